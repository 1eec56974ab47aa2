"""Migrations run once, from an explicit step; everything else only checks the schema and
never waits behind writers. The stored concept shard is the shards.py function. Evidence
is served with its source text by a view."""

import threading
import uuid

import dagster as dg
import psycopg
import pytest

from polymath_assets.defs.resources import PostgresResource
from polymath_assets.extraction.evidence import SOURCE_TEXT_CHARS, build_evidence
from polymath_assets.kb.migrate import SchemaError, check_schema, migrate
from polymath_assets.shards import shard_of
from polymath_assets_tests.extraction_helpers import run_cli

DOC = "00000000-0000-4000-8000-000000000001"


def _setup_resource(dsn: str) -> None:
    PostgresResource(dsn_override=dsn).setup_for_execution(dg.build_init_resource_context())


def test_resource_setup_returns_at_once_while_a_write_on_passages_is_open(kb_dsn):
    writer = psycopg.connect(kb_dsn)
    try:
        writer.execute("INSERT INTO documents (doc_id) VALUES (%s)", (DOC,))
        writer.execute("INSERT INTO passages (passage_id, doc_id, passage_text) VALUES (%s, %s, 'open write')",
                       (str(uuid.uuid4()), DOC))
        writer.execute("UPDATE passages SET section = 'x'")  # uncommitted: holds ROW EXCLUSIVE on passages
        outcome: list = []
        thread = threading.Thread(target=lambda: outcome.append(_try(_setup_resource, kb_dsn)), daemon=True)
        thread.start()
        thread.join(timeout=30)  # a bound so the test fails instead of hanging, not a speed target
        assert not thread.is_alive(), "resource setup waited for the open write on passages"
        assert outcome == [None]
    finally:
        writer.rollback()
        writer.close()


def _try(fn, *args):
    try:
        fn(*args)
    except Exception as err:  # noqa: BLE001 - returned to the test thread
        return err
    return None


def test_resource_setup_refuses_a_database_that_is_behind(kb_dsn, new_database):
    with pytest.raises(SchemaError, match=r"no polymath schema yet; run `polymath migrate`"):
        _setup_resource(new_database())
    with psycopg.connect(kb_dsn) as conn:
        conn.execute("DELETE FROM schema_migrations WHERE version = '006'")
    with pytest.raises(SchemaError, match=r"behind this code \(missing 006_evidence_view\); run `polymath migrate`"):
        _setup_resource(kb_dsn)


def test_migrate_command_runs_once_and_merge_policy_is_set_explicitly(new_database, tmp_path):
    dsn = new_database()
    first = run_cli(tmp_path, dsn, "migrate")
    assert first.returncode == 0, first.stderr
    assert "applied 001_corpus" in first.stdout and "006_evidence_view" in first.stdout
    again = run_cli(tmp_path, dsn, "migrate", env={"POLYMATH_MERGE_PREFERENCE": "llm_v2", "POLYMATH_CONFIDENCE_FLOOR": "0.2"})
    assert again.returncode == 0 and "up to date" in again.stdout
    shown = run_cli(tmp_path, dsn, "merge-policy", "show")
    assert "gemini_batch_v1,llm_v2,haiku_v1" in shown.stdout and "0.7" in shown.stdout  # seeded once, kept
    changed = run_cli(tmp_path, dsn, "merge-policy", "set", "--preference", "haiku_v1,llm_v2", "--floor", "0.5")
    assert changed.returncode == 0, changed.stderr
    with psycopg.connect(dsn) as conn:
        assert [v for (v,) in conn.execute("SELECT extractor_version FROM extractor_preference ORDER BY rank")] == [
            "haiku_v1", "llm_v2"]
        assert conn.execute("SELECT confidence_floor FROM merge_settings").fetchone()[0] == 0.5
    bad = run_cli(tmp_path, dsn, "merge-policy", "set", "--floor", "1.5")
    assert bad.returncode != 0 and "between 0 and 1" in bad.stderr and "Traceback" not in bad.stderr


def _passages_with_concepts(conn, n: int) -> list[str]:
    conn.execute("INSERT INTO documents (doc_id) VALUES (%s) ON CONFLICT DO NOTHING", (DOC,))
    ids = [str(uuid.uuid4()) for _ in range(n)]
    for pid in ids:
        conn.execute("INSERT INTO passages (passage_id, doc_id, passage_text) VALUES (%s, %s, %s)",
                     (pid, DOC, "BERT is a model. " * 100))
        conn.execute("INSERT INTO passage_concepts (passage_id, concept_name, concept_type, extractor_version) "
                     "VALUES (%s, 'BERT', 'model', 'gemini_batch_v1')", (pid,))
    return ids


def test_stored_concept_shard_is_the_shard_function_and_follows_a_reshard(kb):
    ids = _passages_with_concepts(kb, 40)
    stored = dict(kb.execute("SELECT passage_id::text, shard FROM passage_concepts").fetchall())
    assert stored == {pid: shard_of(pid, 64) for pid in ids}
    kb.commit()
    check_schema(kb, embedding_dim=1024, shard_count=64)
    with pytest.raises(SchemaError, match="sharded for POLYMATH_SHARD_COUNT=64 .* run `polymath migrate`"):
        check_schema(kb, embedding_dim=1024, shard_count=8)
    migrate(kb, embedding_dim=1024, shard_count=8)
    stored = dict(kb.execute("SELECT passage_id::text, shard FROM passage_concepts").fetchall())
    assert stored == {pid: shard_of(pid, 8) for pid in ids}
    check_schema(kb, embedding_dim=1024, shard_count=8)


def test_evidence_is_stored_without_source_text_and_served_with_it(kb):
    (pid,) = _passages_with_concepts(kb, 1)
    text = kb.execute("SELECT passage_text FROM passages WHERE passage_id = %s", (pid,)).fetchone()[0]
    evidence = build_evidence(text, "BERT", ["BERT is a model"], 0.9, "m")
    kb.execute("UPDATE passage_concepts SET evidence = %s", (psycopg.types.json.Jsonb(evidence),))
    stored = kb.execute("SELECT evidence FROM passage_concepts").fetchone()[0]
    served = kb.execute("SELECT evidence FROM passage_concepts_evidence WHERE passage_id = %s", (pid,)).fetchone()[0]
    assert "source_text" not in stored
    assert served == {**stored, "source_text": text[:SOURCE_TEXT_CHARS]}
    assert set(served) == {"surface", "support", "context", "source_text", "quality"}


def test_an_up_to_date_migrate_returns_at_once_while_a_write_on_passages_is_open(kb_dsn, config):
    from polymath_assets.kb.db import migrate_database

    writer = psycopg.connect(kb_dsn)
    try:
        writer.execute("UPDATE passages SET section = 'x'")
        writer.execute("INSERT INTO documents (doc_id) VALUES (%s)", (DOC,))
        outcome: list = []
        thread = threading.Thread(target=lambda: outcome.append(_try(migrate_database, kb_dsn, config)), daemon=True)
        thread.start()
        thread.join(timeout=30)
        assert not thread.is_alive(), "`polymath migrate` on a current schema waited for the open write"
        assert outcome == [None]
    finally:
        writer.rollback()
        writer.close()


def test_quality_notes_are_served_from_the_extractor_model_when_not_stored(kb):
    (pid,) = _passages_with_concepts(kb, 1)
    kb.execute("UPDATE passage_concepts SET extractor_model = 'gemini-2.5-flash-lite'")
    text, model = kb.execute("SELECT p.passage_text, c.extractor_model FROM passages p JOIN passage_concepts c "
                             "USING (passage_id) WHERE passage_id = %s", (pid,)).fetchone()
    evidence = build_evidence(text, "BERT", ["BERT is a model"], 0.9, None)
    assert "notes" not in evidence["quality"]
    kb.execute("UPDATE passage_concepts SET evidence = %s", (psycopg.types.json.Jsonb(evidence),))
    served = kb.execute("SELECT evidence FROM passage_concepts_evidence WHERE passage_id = %s", (pid,)).fetchone()[0]
    assert served["quality"] == {**evidence["quality"], "notes": f"extracted by {model}"}
    assert served["source_text"] == text[:SOURCE_TEXT_CHARS]
