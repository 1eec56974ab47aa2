import psycopg
import pytest

from polymath_assets.kb.migrate import SchemaError, available_migrations, migrate, set_merge_policy

SETTINGS = dict(embedding_dim=1024, shard_count=64, merge_preference=("gemini_batch_v1", "llm_v2", "haiku_v1"),
                confidence_floor=0.7)


def test_migrations_apply_in_order_then_are_recorded_and_skipped(new_database):
    with psycopg.connect(new_database()) as conn:
        applied = migrate(conn, **SETTINGS)
        assert applied == [f"{m.version}_{m.name}" for m in available_migrations()]
        assert applied == sorted(applied)
        assert migrate(conn, **SETTINGS) == []
        recorded = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
        assert [v for (v,) in recorded] == [m.version for m in available_migrations()]


def test_schema_has_the_columns_the_existing_database_uses(kb):
    def columns(table):
        return {r[0] for r in kb.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s", (table,)).fetchall()}

    assert {"doc_id", "title", "year", "doi"} <= columns("documents")
    assert {"passage_id", "doc_id", "section", "passage_text", "embedding", "embedding_model"} <= columns("passages")
    assert {"passage_id", "concept_name", "concept_type", "aliases", "confidence", "extractor_model",
            "extractor_version", "evidence", "created_at"} <= columns("passage_concepts")
    assert {"job_name", "shard", "extractor_version", "state", "input_file", "prompt_tokens",
            "estimated_cost_usd", "actual_cost_usd", "error"} <= columns("batch_jobs")
    assert {"request_key", "job_id", "status", "attempts", "last_error"} <= columns("passage_requests")
    assert "job_name" in columns("kb_migrations")
    assert kb.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0].startswith("0.8")


def test_embedding_dimension_is_configuration(new_database):
    with psycopg.connect(new_database()) as conn:
        migrate(conn, **{**SETTINGS, "embedding_dim": 384})
        typ = conn.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                           "WHERE attrelid = 'passages'::regclass AND attname = 'embedding'").fetchone()[0]
        assert typ == "vector(384)"
        with pytest.raises(SchemaError, match=r"passages.embedding is vector\(384\) but POLYMATH_EMBEDDING_DIM=1024"):
            migrate(conn, **SETTINGS)


def test_an_edited_applied_migration_is_refused(kb):
    kb.execute("UPDATE schema_migrations SET checksum = 'something else' WHERE version = '001'")
    with pytest.raises(SchemaError, match="changed after it was applied"):
        migrate(kb, **SETTINGS)


def test_concept_rows_cannot_be_duplicated(kb):
    _one_passage(kb)
    insert = ("INSERT INTO passage_concepts (passage_id, concept_name, concept_type, extractor_version) "
              "VALUES ('00000000-0000-4000-8000-0000000000a1', 'BERT', 'model', 'gemini_batch_v1') "
              "ON CONFLICT DO NOTHING")
    kb.execute(insert)
    kb.execute(insert)
    assert kb.execute("SELECT count(*) FROM passage_concepts").fetchone()[0] == 1


def _one_passage(conn, pid="00000000-0000-4000-8000-0000000000a1"):
    conn.execute("INSERT INTO documents (doc_id) VALUES ('00000000-0000-4000-8000-000000000001') ON CONFLICT DO NOTHING")
    conn.execute("INSERT INTO passages (passage_id, doc_id, passage_text) VALUES (%s, "
                 "'00000000-0000-4000-8000-000000000001', 'text')", (pid,))


def _concept(conn, name, version, confidence, ctype="method"):
    conn.execute("INSERT INTO passage_concepts (passage_id, concept_name, concept_type, confidence, extractor_version) "
                 "VALUES ('00000000-0000-4000-8000-0000000000a1', %s, %s, %s, %s)", (name, ctype, confidence, version))


def test_merge_view_prefers_versions_in_configured_order_above_the_floor(kb):
    _one_passage(kb)
    _concept(kb, "BERT", "haiku_v1", 0.99)
    _concept(kb, "BERT", "llm_v2", 0.80, ctype="model")
    _concept(kb, "LSTM", "haiku_v1", 0.90)
    _concept(kb, "LSTM", "gemini_batch_v1", 0.65)   # below the floor: llm/haiku win
    _concept(kb, "GPU", "unknown_v9", 0.95)          # unlisted versions still count, ranked last
    merged = dict(((n, v) for n, v in kb.execute(
        "SELECT concept_name, extractor_version FROM passage_concepts_merged").fetchall()))
    assert merged == {"BERT": "llm_v2", "LSTM": "haiku_v1", "GPU": "unknown_v9"}

    # Migrating again with another configured policy changes nothing: only the explicit command does.
    migrate(kb, **{**SETTINGS, "merge_preference": ("haiku_v1", "llm_v2"), "confidence_floor": 0.5})
    assert dict(kb.execute("SELECT concept_name, extractor_version FROM passage_concepts_merged").fetchall()) == merged
    set_merge_policy(kb, ("haiku_v1", "llm_v2"), 0.5)
    merged = dict(kb.execute("SELECT concept_name, extractor_version FROM passage_concepts_merged").fetchall())
    assert merged == {"BERT": "haiku_v1", "LSTM": "haiku_v1", "GPU": "unknown_v9"}
