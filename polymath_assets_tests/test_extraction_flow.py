"""Extraction end to end with the real SDK against the offline emulator and a real database:
pilot, faults and resubmission, budget cap, rollback, no-resume."""

import json

import pytest

from polymath_assets.extraction import runner
from polymath_assets.extraction.requests import request_key
from polymath_assets.gemini.emulator import Faults
from polymath_assets.kb import ledger
from polymath_assets.operations.extraction import drive
from polymath_assets.qc.gates import Thresholds
from polymath_assets.qc.report import write_extraction_report
from polymath_assets_tests.extraction_helpers import concept_rows, ledger_states, load_sample, settings


@pytest.fixture
def corpus(kb):
    load_sample(kb)
    return kb


def test_pilot_loads_concepts_for_every_selected_passage_with_verified_evidence(corpus, client, tmp_path):
    s = settings(tmp_path)
    assert runner.select_pilot(corpus, s, 120) == 120
    # the ledger computes request keys in SQL; they must be exactly extraction.requests.request_key
    fingerprint = s.request.fingerprint()
    for key, text in corpus.execute("SELECT r.request_key, p.passage_text FROM passage_requests r "
                                    "JOIN passages p USING (passage_id)"):
        assert key == request_key(text, fingerprint)
    summary = drive(corpus, client, s, pilot=True, poll_interval_s=0.05)
    assert summary.jobs_submitted == summary.jobs_ingested == 1
    assert ledger_states(corpus) == {"done": 120}

    recorded = corpus.execute("SELECT sum(concept_count) FROM passage_requests").fetchone()[0]
    assert recorded == len(concept_rows(corpus)) == summary.concepts_loaded > 120 * 4
    checked = 0
    for pid, name, _, _, _, evidence in concept_rows(corpus):
        text = corpus.execute("SELECT passage_text FROM passages WHERE passage_id = %s", (pid,)).fetchone()[0]
        for support in json.loads(evidence)["support"]:
            if support["alignment"] == "exact":
                assert text[support["start"]:support["end"]] == support["quote"]
                checked += 1
    assert checked > 500

    report = write_extraction_report(corpus, s, tmp_path / "runlogs", label="pilot", thresholds=Thresholds())
    assert [g.name for g in report.gates] == ["evidence present", "concepts per passage", "JSON parse failures",
                                              "resume safety (ledger reconciles)"]
    assert report.passed, report.verdict_lines()
    assert "| evidence present | PASS |" in report.path.read_text()

    # while this pilot is unfinished, running the pilot again continues it ...
    assert runner.select_pilot(corpus, s, 120) is None
    # ... once finished, a new pilot selects other passages; nothing done is asked again
    runner.finish_run(corpus, s, "pilot", {})
    assert runner.select_pilot(corpus, s, 120) == 120
    assert corpus.execute("SELECT count(DISTINCT passage_id) FROM passage_requests").fetchone()[0] == 240


def test_faults_are_resubmitted_exactly_and_every_passage_ends_done_or_dead(corpus, client, emulator, tmp_path):
    emulator.faults = Faults(malformed_json_share=0.05, request_error_share=0.02, expire_jobs=1, seed=3)
    s = settings(tmp_path)
    selected = sum(runner.select_shard(corpus, s, shard) for shard in range(s.shard_count))
    assert selected == 384

    first = drive(corpus, client, s, pilot=False, poll_interval_s=0.05, retry_failed=False)
    assert first.jobs_failed == 1  # the expired job
    failed_after_first = {pid for (pid,) in corpus.execute(
        "SELECT passage_id FROM passage_requests WHERE status = 'failed'")}
    expired_job = corpus.execute("SELECT job_id, request_count FROM batch_jobs WHERE state = 'expired'").fetchone()
    # a job-level failure is not the requests' failure: they went back to pending with
    # attempts unchanged, and this same round resubmitted them
    assert expired_job[1] > 0
    assert corpus.execute("SELECT count(*) FROM passage_requests WHERE job_id = %s", (expired_job[0],)).fetchone()[0] == 0
    assert first.jobs_submitted == first.jobs_ingested + 1
    malformed, errors = corpus.execute(
        """SELECT sum((result_stats->'outcomes'->>'parse_error')::int),
                  sum(coalesce((result_stats->'outcomes'->>'request_error')::int, 0))
           FROM batch_jobs WHERE state = 'ingested'""").fetchone()
    assert malformed > 0 and errors > 0
    # every failure is accounted for: parse failures + request errors, one attempt each
    assert len(failed_after_first) == malformed + errors
    assert ledger_states(corpus) == {"done": 384 - len(failed_after_first), "failed": len(failed_after_first)}
    assert dict(corpus.execute("SELECT status, max(attempts) FROM passage_requests GROUP BY 1").fetchall()) == \
        {"done": 0, "failed": 1}

    emulator.faults = Faults()
    second = drive(corpus, client, s, pilot=False, poll_interval_s=0.05)
    # the second run resubmitted exactly the failed requests, once each
    resubmitted = {pid for (pid,) in corpus.execute("SELECT passage_id FROM passage_requests WHERE attempts = 1")}
    assert resubmitted == failed_after_first
    assert corpus.execute("SELECT max(attempts) FROM passage_requests").fetchone()[0] == 1
    assert second.jobs_ingested == len({shard for (shard,) in corpus.execute(
        "SELECT DISTINCT shard FROM passage_requests WHERE attempts = 1")})
    assert ledger_states(corpus) == {"done": 384}
    assert corpus.execute("SELECT sum(concept_count) FROM passage_requests").fetchone()[0] == len(concept_rows(corpus))


def test_requests_that_keep_failing_end_dead_with_their_reason(corpus, client, emulator, tmp_path):
    s = settings(tmp_path, POLYMATH_MAX_ATTEMPTS="2")
    runner.select_pilot(corpus, s, 30)
    doomed = corpus.execute("SELECT request_key FROM passage_requests LIMIT 3").fetchall()
    emulator.faults = Faults(bad_output_keys={k for (k,) in doomed})
    drive(corpus, client, s, pilot=True, poll_interval_s=0.05)
    assert ledger_states(corpus) == {"done": 27, "dead": 3}
    reasons = corpus.execute("SELECT last_error FROM passage_requests WHERE status = 'dead'").fetchall()
    assert all(r.startswith("parse_error: answer is not valid JSON") for (r,) in reasons)


def test_budget_cap_refuses_submission_and_loses_nothing(corpus, client, tmp_path):
    s = settings(tmp_path, POLYMATH_BUDGET_USD="0.0001")
    runner.select_pilot(corpus, s, 50)
    with pytest.raises(runner.BudgetExceeded, match="past POLYMATH_BUDGET_USD"):
        runner.submit(corpus, client, s, None)
    assert ledger_states(corpus) == {"pending": 50}
    assert corpus.execute("SELECT sum(attempts) FROM passage_requests").fetchone()[0] == 0


def test_rollback_removes_one_version_and_leaves_others_byte_identical(corpus, client, tmp_path):
    pids = [pid for (pid,) in corpus.execute("SELECT passage_id FROM passages ORDER BY passage_id LIMIT 20")]
    with corpus.cursor() as cur:
        cur.executemany(
            """INSERT INTO passage_concepts (passage_id, concept_name, concept_type, aliases, confidence,
                   extractor_model, extractor_version, evidence)
               VALUES (%s, 'transfer learning', 'method', '["TL"]', 0.8, 'qwen2.5:7b-instruct', 'llm_v2', NULL)""",
            [(pid,) for pid in pids])
    corpus.commit()
    before = concept_rows(corpus, "llm_v2")
    s = settings(tmp_path)
    runner.select_pilot(corpus, s, 40)
    drive(corpus, client, s, pilot=True, poll_interval_s=0.05)
    runner.finish_run(corpus, s, "pilot", {})
    assert concept_rows(corpus)

    deleted = ledger.forget_version(corpus, s.version, concepts=True)
    corpus.commit()
    assert deleted["passage_concepts"] > 0 and deleted["passage_requests"] == 40 and deleted["kb_migrations"] == 1
    assert concept_rows(corpus) == [] and ledger_states(corpus) == {}
    assert concept_rows(corpus, "llm_v2") == before
    raw = corpus.execute("SELECT created_at FROM passage_concepts WHERE extractor_version = 'llm_v2'").fetchall()
    assert len(raw) == 20


def test_lost_provider_job_is_treated_as_expired_and_resubmitted(corpus, client, emulator, tmp_path):
    s = settings(tmp_path)
    runner.select_pilot(corpus, s, 10)
    emulator.pending_s = 3600  # the job stays pending ...
    job_id = runner.submit(corpus, client, s, None).job_id
    job_name = corpus.execute("SELECT job_name FROM batch_jobs WHERE job_id = %s", (job_id,)).fetchone()[0]
    client._client.batches.delete(name=job_name)  # ... and then the provider forgets it
    emulator.pending_s = 0
    drive(corpus, client, s, pilot=True, poll_interval_s=0.05)
    assert corpus.execute("SELECT state, error FROM batch_jobs WHERE job_id = %s", (job_id,)).fetchone() == \
        ("expired", "job not found at the provider")
    assert ledger_states(corpus) == {"done": 10}


def test_without_a_key_or_offline_the_command_says_what_to_set(kb_dsn, tmp_path):
    from polymath_assets_tests.extraction_helpers import run_cli

    result = run_cli(tmp_path, kb_dsn, "pilot", env={"GEMINI_API_KEY": "", "GOOGLE_API_KEY": "", "POLYMATH_OFFLINE": ""})
    assert result.returncode == 1
    assert "set GEMINI_API_KEY (or GOOGLE_API_KEY), or run with --offline" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_status_accounts_for_every_selected_passage_and_rollback_asks_for_known_versions(kb, kb_dsn, tmp_path):
    from polymath_assets.local import emulator_service
    from polymath_assets_tests.extraction_helpers import run_cli, status_json

    load_sample(kb)
    try:
        pilot = run_cli(tmp_path, kb_dsn, "pilot", "--offline", "--size", "50", "--poll-interval", "0.1")
        assert pilot.returncode == 0, pilot.stderr
        assert "characters per token, from countTokens" in pilot.stdout
        assert "pilot sample pilot-1: 50 done" in pilot.stdout
        assert "QC report:" in pilot.stdout and "PASS  evidence present" in pilot.stdout
    finally:
        emulator_service.stop(tmp_path)
    status = status_json(tmp_path, kb_dsn)
    assert status["total"] == {"pending": 0, "in_flight": 0, "done": 50, "failed": 0, "dead": 0}
    assert sum(sum(v.values()) for v in status["shards"].values()) == 50
    assert status["cost"]["actual_usd"] > 0
    assert status["cost_by_shard"] == {"pilot": {"actual_usd": status["cost"]["actual_usd"], "reserved_usd": 0.0}}
    text = run_cli(tmp_path, kb_dsn, "status").stdout
    assert "cost USD" in text and f"pilot jobs (all shards): ${status['cost']['actual_usd']:.4f}" in text

    unknown = run_cli(tmp_path, kb_dsn, "rollback", "--extractor-version", "gemini_v9", "--yes")
    assert unknown.returncode == 1 and "unknown extractor version 'gemini_v9'" in unknown.stderr
    done = run_cli(tmp_path, kb_dsn, "rollback", "--extractor-version", "gemini_batch_v1", "--yes")
    assert done.returncode == 0, done.stderr
    after = status_json(tmp_path, kb_dsn)
    assert after["total"]["done"] == 0
    assert after["cost"] == status["cost"]  # a rollback forgets concepts and ledger, never money spent
