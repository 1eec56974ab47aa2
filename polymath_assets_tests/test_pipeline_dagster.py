"""The whole asset graph in-process on an ephemeral Dagster instance: real PostgreSQL, the
real SDK against the emulator, real FlagEmbedding on the packaged small model, the real
embedded graph. Shards are broken on purpose, one per acceptance gate: each fails its gate,
is held back (its passage_concepts partition is not materialized: the UI shows it failed)
and must not reach embeddings or the graph."""

import dagster as dg
import psycopg
import pytest
from PIL import Image

from polymath_assets.definitions import defs
from polymath_assets.defs.execution import FULL_CHAIN as CHAIN
from polymath_assets.defs.resources import EmbeddingResource, GeminiResource, GraphResource, PostgresResource
from polymath_assets.gemini.emulator import Faults
from polymath_assets.kb.migrate import migrate
from polymath_assets_tests.extraction_helpers import load_sample

EXTRACTION = CHAIN[:3]


def assets(names):
    by_name = {a.key.to_user_string(): a for a in defs.assets}
    return [by_name[n] for n in names]


@pytest.fixture
def small_model_db(new_database):
    dsn = new_database()
    with psycopg.connect(dsn) as conn:
        migrate(conn, embedding_dim=384, shard_count=64, merge_preference=("gemini_batch_v1", "llm_v2", "haiku_v1"),
                confidence_floor=0.7)
        load_sample(conn)
    return dsn


@pytest.fixture
def resources(small_model_db, emulator, graph, graph_server):
    return {
        "postgres": PostgresResource(dsn_override=small_model_db, embedding_dim=384),
        "gemini": GeminiResource(base_url_override=emulator.base_url),
        "embedder": EmbeddingResource(model="packaged-minilm", device="cpu"),
        "graph": GraphResource(uri_override=graph_server),
    }


def two_shards(dsn) -> tuple[int, int]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT shard_hash % 64 AS s FROM passages GROUP BY s ORDER BY count(*) DESC, s LIMIT 2")
        good, bad = [s for (s,) in rows]
    return good, bad


def break_shard(dsn, emulator, instance, resources, shard):
    """Register the shard's requests, then make the emulator answer all of them with broken JSON."""
    dg.materialize(assets(["pending_passages"]), partition_key=f"shard-{shard:03d}", resources=resources,
                   instance=instance)
    with psycopg.connect(dsn) as conn:
        keys = {k for (k,) in conn.execute("SELECT request_key FROM passage_requests WHERE shard = %s", (shard,))}
    emulator.faults = Faults(bad_output_keys=keys)


def passages_embedded(dsn, shard):
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FILTER (WHERE embedding IS NOT NULL), count(*) FROM passages "
                            "WHERE shard_hash %% 64 = %s", (shard,)).fetchone()


def graph_passages(graph, shard):
    return graph.records("MATCH (p:Passage {shard: $s}) RETURN count(p) AS n", s=shard)[0]["n"]


def test_two_shards_end_to_end_and_the_bad_shard_stays_out(small_model_db, emulator, resources, graph, tmp_path):
    good, bad = two_shards(small_model_db)
    instance = dg.DagsterInstance.ephemeral()
    break_shard(small_model_db, emulator, instance, resources, bad)

    good_run = dg.materialize(assets(CHAIN), partition_key=f"shard-{good:03d}", resources=resources, instance=instance)
    assert good_run.success
    assert all(e.passed for e in good_run.get_asset_check_evaluations())
    embedded, total = passages_embedded(small_model_db, good)
    assert embedded == total > 0
    assert graph_passages(graph, good) > 0

    bad_run = dg.materialize(assets(CHAIN), partition_key=f"shard-{bad:03d}", resources=resources, instance=instance,
                             raise_on_error=False)
    failed = {e.check_name for e in bad_run.get_asset_check_evaluations() if not e.passed}
    assert "json_parse_failures" in failed
    started = {e.step_key for e in bad_run.all_events if e.event_type_value == "STEP_START"}
    assert started == {"pending_passages", "gemini_batch_jobs", "passage_concepts"}  # the blocking gate stopped the rest
    assert not bad_run.success
    assert passages_embedded(small_model_db, bad)[0] == 0
    assert graph_passages(graph, bad) == 0

    # The data in Postgres and in the graph agree for the good shard: one MENTIONS per
    # merged row, one Concept node per canonical concept (the resolver ran in the same run).
    with psycopg.connect(small_model_db) as conn:
        mentions, concepts = conn.execute(
            """SELECT count(*), count(DISTINCT concept_id) FROM passage_concepts_canonical m
               JOIN passages p USING (passage_id) WHERE p.shard_hash %% 64 = %s""", (good,)).fetchone()
    in_graph = graph.records("MATCH (p:Passage {shard: $s})-[m:MENTIONS]->(c:Concept) "
                             "RETURN count(m) AS mentions, count(DISTINCT c) AS concepts", s=good)[0]
    assert in_graph == {"mentions": mentions, "concepts": concepts} and mentions > 0


def top_shards(dsn, n) -> list[int]:
    with psycopg.connect(dsn) as conn:
        return [s for (s,) in conn.execute(
            "SELECT shard_hash %% 64 AS s FROM passages GROUP BY s ORDER BY count(*) DESC, s LIMIT %s", (n,))]


def shard_keys_of(dsn, shard) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {k for (k,) in conn.execute("SELECT request_key FROM passage_requests WHERE shard = %s", (shard,))}


def run_sql(dsn, statement, params):
    with psycopg.connect(dsn) as conn:
        conn.execute(statement, params)


# How each gate is made to fail on purpose, through the real path: check that must fail ->
# (what to do before the shard's requests are registered, after they are registered, after
# they are submitted). Functions take (dsn, emulator, shard).
def _sparse_text(dsn, emulator, shard):
    # One concept per passage: the mean is below the 4 - 14 band, the quote is still exact.
    run_sql(dsn, "UPDATE passages SET passage_text = 'We report a single result obtained with BERT.' "
             "WHERE shard_hash %% 64 = %s", (shard,))


def _text_replaced_under_the_job(dsn, emulator, shard):
    # The passages change after the requests went out: the model's quotes cannot be found.
    run_sql(dsn, "UPDATE passages SET passage_text = 'Replaced after submission; no quoted words remain.' "
             "WHERE shard_hash %% 64 = %s", (shard,))


def _broken_json(dsn, emulator, shard):
    emulator.faults.bad_output_keys |= shard_keys_of(dsn, shard)


def _leftover_row(dsn, emulator, shard):
    # A row the ledger does not account for (e.g. left by a crashed earlier load).
    run_sql(dsn, """INSERT INTO passage_concepts (passage_id, concept_name, concept_type, confidence, extractor_version)
                SELECT passage_id, 'leftover concept', 'method', 0.9, extractor_version FROM passage_requests
                WHERE shard = %s ORDER BY passage_id LIMIT 1""", (shard,))


GATE_FAULTS = {
    "evidence_present": (None, None, _text_replaced_under_the_job),
    "concepts_per_passage": (_sparse_text, None, None),
    "json_parse_failures": (None, _broken_json, None),
    "resume_safety": (None, None, _leftover_row),
}


@pytest.mark.slow
def test_each_gate_fails_on_purpose_and_holds_its_shard_back(small_model_db, emulator, resources, graph):
    good, *bad_shards = top_shards(small_model_db, 1 + len(GATE_FAULTS))
    bad = dict(zip(GATE_FAULTS, bad_shards))
    instance = dg.DagsterInstance.ephemeral()
    emulator.faults = Faults()

    for check, shard in bad.items():
        key = f"shard-{shard:03d}"
        for fault, step in zip(GATE_FAULTS[check], ("pending_passages", "gemini_batch_jobs", None)):
            if fault:
                fault(small_model_db, emulator, shard)
            if step:
                dg.materialize(assets([step]), partition_key=key, resources=resources, instance=instance)
        run = dg.materialize(assets(CHAIN[2:]), partition_key=key, resources=resources, instance=instance,
                             raise_on_error=False)
        failed = {e.check_name for e in run.get_asset_check_evaluations() if not e.passed}
        assert check in failed, (check, failed)
        started = {e.step_key for e in run.all_events if e.event_type_value == "STEP_START"}
        assert started == {"passage_concepts"}, (check, started)  # the blocking check stopped the rest
        assert not run.success
        message = next(e for e in run.all_events if e.is_step_failure).step_failure_data.error.message
        assert f"shard {shard} held back by its gates — " in message and f"{check}: " in message, message
        assert "What to do:" in message
        assert passages_embedded(small_model_db, shard)[0] == 0, check
        assert graph_passages(graph, shard) == 0, check

    ok = dg.materialize(assets(EXTRACTION), partition_key=f"shard-{good:03d}", resources=resources, instance=instance)
    assert all(e.passed for e in ok.get_asset_check_evaluations())
    # Held back is not materialized: the partition view shows the good shard alone as done.
    materialized = instance.get_materialized_partitions(dg.AssetKey("passage_concepts"))
    assert f"shard-{good:03d}" in materialized
    assert not materialized & {f"shard-{s:03d}" for s in bad.values()}, materialized


def test_qc_report_asset_writes_markdown_and_a_chart_that_opens(small_model_db, emulator, resources, tmp_path):
    from dataclasses import replace

    from polymath_assets.config import Config

    config = replace(Config.from_env(), runlog_dir=tmp_path / "runlogs")  # handed in, not patched
    resources = {**resources, "postgres": PostgresResource(dsn_override=small_model_db, embedding_dim=384,
                                                           settings=config)}
    good, _ = two_shards(small_model_db)
    instance = dg.DagsterInstance.ephemeral()
    dg.materialize(assets(EXTRACTION), partition_key=f"shard-{good:03d}", resources=resources, instance=instance)
    result = dg.materialize(assets(["qc_report"]), resources=resources, instance=instance)
    metadata = result.asset_materializations_for_node("qc_report")[0].metadata
    assert metadata["verdict"].value == "PASS"
    assert str(metadata["report file"].value).startswith(str(tmp_path / "runlogs"))
    assert "data:image/png;base64," in metadata["report"].value
    with Image.open(metadata["chart file"].value) as chart:
        assert chart.format == "PNG" and chart.size[0] > 800
    report = open(metadata["report file"].value).read()
    for gate in ("evidence present", "concepts per passage", "JSON parse failures", "resume safety"):
        assert f"| {gate}" in report
    assert "1 of 1 shards with work pass every gate." in report  # from one pass grouped by shard
    assert metadata["shards held back"].value == {}
