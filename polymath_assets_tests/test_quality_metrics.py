"""Gate metrics: gate 1 counts located quotes only; a shard's metrics read only its rows
through the (extractor_version, shard) index, chosen by the planner on honest statistics;
the corpus-wide per-shard verdicts come from one grouped pass and agree with per-shard
queries; the JSON parse gate reads extraction's answers, a repair's answer standing in for
the one it replaced; verify's traceability samples through indexes."""

import pytest
from psycopg.types.json import Jsonb

from polymath_assets.kb import repair as repair_sql
from polymath_assets.kb import synthetic_extraction
from polymath_assets.kb.quality import explain_shard_metrics, extraction_metrics, extraction_metrics_by_shard
from polymath_assets.qc.gates import Thresholds, evaluate
from polymath_assets.qc.report import shard_verdicts

VERSION = "gemini_batch_v1"


@pytest.fixture
def filled(kb):
    # 3,000 passages x 6 concepts over 64 shards: one shard is ~1.6% of the rows, so an
    # index scan is the planner's own choice after ANALYZE (no enable_seqscan tricks).
    synthetic_extraction.fill(kb, passages=3000, concepts_per_passage=6)
    return kb


def _one_shard(conn) -> int:
    return conn.execute("SELECT shard FROM passage_concepts GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").fetchone()[0]


def test_a_shards_gate_queries_use_the_shard_indexes(filled):
    plans = explain_shard_metrics(filled, VERSION, _one_shard(filled))
    for name in ("concepts", "alignment"):
        assert "passage_concepts_version_shard_idx" in plans[name], plans[name]
    # The reconciliation counts one shard's rows per passage: never a scan of the version.
    assert "passage_concepts_version_shard_idx" in plans["reconciliation"], plans["reconciliation"]
    for name, plan in plans.items():
        assert "Seq Scan on passage_concepts" not in plan, (name, plan)
        assert "Seq Scan on passage_requests" not in plan, (name, plan)


def test_per_shard_metrics_from_one_pass_equal_the_single_shard_queries(filled):
    by_shard = extraction_metrics_by_shard(filled, VERSION)
    assert len(by_shard) == 64
    for shard in (0, 17, 63):
        assert by_shard[shard] == extraction_metrics(filled, VERSION, shard)
    total = extraction_metrics(filled, VERSION)
    assert sum(m["concepts"] for m in by_shard.values()) == total["concepts"] == 18000
    assert all(not failed for failed in shard_verdicts(by_shard, Thresholds()).values())


def _break_quotes(conn, shard, how):
    conn.execute(f"UPDATE passage_concepts SET evidence = {how} WHERE shard = %s", (shard,))


@pytest.mark.parametrize("how", [
    "jsonb_set(evidence, '{support}', '[]')",                                    # no quotes at all
    "jsonb_set(evidence, '{support,0}', '{\"quote\": \"q\", \"start\": null, \"end\": null, \"alignment\": \"unaligned\"}')",
    "jsonb_set(evidence, '{support,0,alignment}', '\"unaligned\"')",              # status says not located
])
def test_gate_one_fails_when_quotes_are_missing_or_unlocatable(filled, how):
    shard = _one_shard(filled)
    before = {g.name: g.passed for g in evaluate(extraction_metrics(filled, VERSION, shard), Thresholds())}
    assert before["evidence present"]
    _break_quotes(filled, shard, how)
    gates = {g.name: g for g in evaluate(extraction_metrics(filled, VERSION, shard), Thresholds())}
    assert not gates["evidence present"].passed and gates["evidence present"].value.startswith("0.00%")
    assert gates["concepts per passage"].passed  # only the evidence gate moved
    failing = shard_verdicts(extraction_metrics_by_shard(filled, VERSION), Thresholds())
    assert {s for s, names in failing.items() if names} == {shard}


def test_a_fuzzy_quote_with_a_score_counts_as_located(kb):
    synthetic_extraction.fill(kb, passages=20, concepts_per_passage=5)
    kb.execute("UPDATE passage_concepts SET evidence = jsonb_set(evidence, '{support,0}', %s)",
               (Jsonb({"quote": "q", "start": 3, "end": 9, "alignment": "fuzzy", "score": 0.9}),))
    metrics = extraction_metrics(kb, VERSION)
    assert metrics["located"] == metrics["concepts"] == 100


def test_the_parse_gate_counts_extractions_answers_with_a_repairs_answer_in_place_of_the_one_it_replaced(filled):
    kb, shard = filled, _one_shard(filled)
    job, lines = kb.execute("""SELECT job_id, (result_stats->>'lines')::int FROM batch_jobs
                               WHERE shard = %s AND purpose = 'extract'""", (shard,)).fetchone()
    # two of the shard's answers did not parse, and extraction gave up on their passages
    broken = [pid for (pid,) in kb.execute("""SELECT passage_id::text FROM passage_requests WHERE shard = %s
                                              ORDER BY passage_id LIMIT 2""", (shard,))]
    kb.execute("DELETE FROM passage_concepts WHERE passage_id = ANY(%s::uuid[])", (broken,))
    kb.execute("""UPDATE passage_requests SET status = 'dead', attempts = 1, concept_count = NULL,
                         last_error = 'parse_error: answer is not valid JSON' WHERE passage_id = ANY(%s::uuid[])""",
               (broken,))
    kb.execute("""UPDATE batch_jobs SET result_stats = jsonb_build_object('lines', %s::int,
                         'outcomes', jsonb_build_object('ok', %s::int - 2, 'parse_error', 2)) WHERE job_id = %s""",
               (lines, lines, job))

    def parse_gate():
        metrics = extraction_metrics(kb, VERSION, shard)
        assert extraction_metrics_by_shard(kb, VERSION)[shard] == metrics  # one pass or per shard: the same
        return metrics["lines"], metrics["parse_errors"]

    assert parse_gate() == (lines, 2)
    assert repair_sql.register(kb, version=VERSION, shard=None, max_attempts=2, request_max_attempts=1) == {
        "unlocated": 0, "failed": 2}
    # a repair job of the shard, and one of the whole version (no shard), answer them: their
    # lines never count as more answers, each outcome stands in for the answer it replaced
    repair_jobs = [kb.execute("""INSERT INTO batch_jobs (extractor_version, shard, provider, model, display_name,
                                     state, purpose, result_stats)
                                 VALUES (%s, %s, 'synthetic', 'synthetic', %s, 'ingested', 'repair',
                                         '{"lines": 1, "outcomes": {"ok": 1}}') RETURNING job_id""",
                                  (VERSION, scope, f"repair {scope}")).fetchone()[0] for scope in (shard, None)]
    kb.execute("UPDATE passage_requests SET status = 'done', concept_count = 0, last_error = NULL, job_id = %s "
               "WHERE passage_id = %s", (repair_jobs[0], broken[0]))
    assert parse_gate() == (lines, 1)
    kb.execute("UPDATE passage_requests SET status = 'dead', attempts = 2, job_id = %s, "
               "last_error = 'parse_error: again' WHERE passage_id = %s", (repair_jobs[1], broken[1]))
    assert parse_gate() == (lines, 1)  # the repair's answer did not parse either
    kb.execute("UPDATE passage_requests SET status = 'done', concept_count = 0, last_error = NULL "
               "WHERE passage_id = %s", (broken[1],))
    assert parse_gate() == (lines, 0)
    gates = {g.name: g.passed for g in evaluate(extraction_metrics(kb, VERSION, shard), Thresholds())}
    assert gates["JSON parse failures"] and gates["resume safety (ledger reconciles)"]
    # the corpus counts the same way
    assert extraction_metrics(kb, VERSION)["parse_errors"] == 0


def test_traceability_samples_concept_rows_through_indexes(filled):
    from polymath_assets.kb.search import TRACEABILITY_SQL, traceability

    rows = traceability(filled, VERSION)
    assert len(rows) == 3 and all(r["title"] for r in rows)
    plan = "\n".join(line for (line,) in filled.execute(
        "EXPLAIN " + TRACEABILITY_SQL, dict(version=VERSION, sample=50, limit=3)))
    assert "Seq Scan on passage_concepts" not in plan, plan
    assert "passage_concepts_version_shard_idx" in plan, plan
