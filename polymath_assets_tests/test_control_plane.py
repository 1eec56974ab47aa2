"""The extraction control plane (kb/control.py) in one process against the real emulator
and PostgreSQL: job-level failures charge no attempt, the enqueued-token cap holds, two
submissions cannot both pass a budget cap that fits one, the spend ledger survives
resets, the pilot touches only its sample, and a live owner's job is never recovered."""

import threading

import dagster as dg
import psycopg
import pytest

from polymath_assets.definitions import defs

ASSETS = list(defs.assets)
from polymath_assets.defs.resources import PostgresResource
from polymath_assets.extraction import runner
from polymath_assets.gemini.emulator import QUOTA_MESSAGE, Faults
from polymath_assets.kb import control, ledger
from polymath_assets.operations.extraction import drive
from polymath_assets.shards import shard_key
from polymath_assets_tests.emulator_reads import provider_jobs, submissions
from polymath_assets_tests.extraction_helpers import ledger_states, load_sample, settings


@pytest.fixture
def corpus(kb):
    load_sample(kb)
    return kb


def shards_by_size(conn, n: int) -> list[int]:
    return [s for (s,) in conn.execute(
        "SELECT shard_hash %% 64 FROM passages GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT %s", (n,))]


def test_a_job_failed_for_quota_returns_its_requests_without_charging_an_attempt(corpus, client, emulator, tmp_path):
    s = settings(tmp_path)
    runner.select_pilot(corpus, s, 30)
    emulator.faults = Faults(fail_jobs=1)  # the next job ends FAILED: "Enqueued token quota exceeded"
    job_id = runner.submit(corpus, client, s, None, selection=runner.pilot_selection(corpus, s)).job_id
    job = ledger.jobs(corpus, s.version, ledger.ACTIVE_JOB_STATES, job_ids=[job_id])[0]
    status = runner.refresh(corpus, client, s, job)
    assert status.state == "failed" and QUOTA_MESSAGE in status.error
    assert ledger_states(corpus) == {"pending": 30}
    assert corpus.execute("SELECT max(attempts), min(last_error) FROM passage_requests").fetchone() == \
        (0, f"batch job failed: {status.error}")
    assert corpus.execute("SELECT state, actual_usd::float FROM spend_ledger WHERE job_id = %s",
                          (job_id,)).fetchone() == ("actual", 0.0)
    assert control.enqueued_tokens(corpus) == 0  # a finished job holds no quota

    summary = drive(corpus, client, s, pilot=True, poll_interval_s=0.05)
    assert summary.jobs_ingested == 1
    assert ledger_states(corpus) == {"done": 30}
    assert corpus.execute("SELECT max(attempts) FROM passage_requests").fetchone()[0] == 0


def test_submissions_wait_in_waves_under_the_enqueued_token_cap(corpus, client, emulator, kb_dsn, tmp_path):
    shards = shards_by_size(corpus, 8)
    probe = settings(tmp_path)
    for shard in shards:
        runner.select_shard(corpus, probe, shard)
    total = runner.estimate_pending(corpus, probe)["prompt_tokens"]
    cap = total // 4  # about a quarter of the work may be enqueued at once
    s = settings(tmp_path, POLYMATH_MAX_ENQUEUED_TOKENS=str(cap))
    emulator.pending_s = 0.3  # jobs stay enqueued for a while, so the cap binds

    seen, deferred = [], []
    with psycopg.connect(kb_dsn, autocommit=True) as watcher:
        def observe(line: str) -> None:
            if line.startswith("deferred"):
                deferred.append(line)
            if "submitted" in line:
                seen.append(control.enqueued_tokens(watcher))
        summary = drive(corpus, client, s, pilot=False, poll_interval_s=0.1, progress=observe)
    assert ledger_states(corpus) == {"done": sum(1 for _ in corpus.execute("SELECT 1 FROM passage_requests"))}
    assert deferred and summary.jobs_submitted > len(shards)  # it went out in waves ...
    assert max(seen) <= cap  # ... and never past the cap
    # each request submitted exactly once
    assert set(submissions(provider_jobs(emulator.base_url, emulator.state_dir)).values()) == {1}


def test_one_request_larger_than_the_cap_is_an_operator_error(corpus, client, tmp_path):
    s = settings(tmp_path, POLYMATH_MAX_ENQUEUED_TOKENS="10")
    runner.select_pilot(corpus, s, 5)
    with pytest.raises(runner.EnqueuedTokenCapTooSmall, match="POLYMATH_MAX_ENQUEUED_TOKENS=10"):
        runner.submit(corpus, client, s, None, selection=runner.pilot_selection(corpus, s))
    assert ledger_states(corpus) == {"pending": 5}
    assert corpus.execute("SELECT count(*) FROM batch_jobs").fetchone()[0] == 0


def test_two_concurrent_submissions_against_a_cap_that_fits_one(corpus, client, emulator, kb_dsn, tmp_path):
    a, b = shards_by_size(corpus, 2)
    probe = settings(tmp_path)
    runner.select_shard(corpus, probe, a)
    runner.select_shard(corpus, probe, b)
    each = max(runner.estimate_pending(corpus, probe, shard)["estimated_cost_usd"] for shard in (a, b))
    s = settings(tmp_path, POLYMATH_BUDGET_USD=repr(each * 1.5))
    emulator.pending_s = 3600  # the first job stays in flight: its reservation must count

    start = threading.Barrier(2)
    outcomes: dict[int, object] = {}

    def submit(shard: int) -> None:
        with psycopg.connect(kb_dsn) as conn:
            start.wait()
            try:
                outcomes[shard] = runner.submit(conn, client, s, shard).job_id
            except runner.BudgetExceeded as err:
                outcomes[shard] = err

    threads = [threading.Thread(target=submit, args=(shard,)) for shard in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    passed = [v for v in outcomes.values() if isinstance(v, int)]
    refused = [v for v in outcomes.values() if isinstance(v, runner.BudgetExceeded)]
    assert len(passed) == 1 and len(refused) == 1, outcomes
    assert len(provider_jobs(emulator.base_url, emulator.state_dir)) == 1
    spend = corpus.execute("SELECT job_id, state, estimated_usd::float FROM spend_ledger").fetchall()
    assert [(j, st) for j, st, _ in spend] == [(passed[0], "reserved")]
    assert control.committed_usd(corpus, s.version) <= s.budget_usd

    # neither --no-resume nor rollback forgets money: the reservation still counts
    ledger.forget_version(corpus, s.version, concepts=False)
    corpus.commit()
    assert corpus.execute("SELECT job_id, state, estimated_usd::float FROM spend_ledger").fetchall() == spend
    ledger.forget_version(corpus, s.version, concepts=True)
    corpus.commit()
    assert corpus.execute("SELECT job_id, state, estimated_usd::float FROM spend_ledger").fetchall() == spend
    runner.select_shard(corpus, s, b)
    runner.select_shard(corpus, s, a)
    with pytest.raises(runner.BudgetExceeded):
        for shard in (a, b):
            runner.submit(corpus, client, s, shard)


def test_after_pending_passages_for_four_shards_a_pilot_submits_only_its_sample(corpus, client, emulator, kb_dsn,
                                                                                tmp_path):
    shards = shards_by_size(corpus, 4)
    pending = next(a for a in ASSETS if a.key.to_user_string() == "pending_passages")
    instance = dg.DagsterInstance.ephemeral()
    for shard in shards:
        assert dg.materialize([pending], partition_key=shard_key(shard), instance=instance,
                              resources={"postgres": PostgresResource(dsn_override=kb_dsn)}).success
    registered = corpus.execute("SELECT count(*) FROM passage_requests").fetchone()[0]
    assert registered > 0

    s = settings(tmp_path)
    assert runner.select_pilot(corpus, s, 50) == 50
    summary = drive(corpus, client, s, pilot=True, poll_interval_s=0.05)
    runner.finish_run(corpus, s, "pilot", {})
    sample = {k for (k,) in corpus.execute("SELECT request_key FROM passage_requests WHERE selection = 'pilot-1'")}
    submitted = submissions(provider_jobs(emulator.base_url, emulator.state_dir))
    assert len(sample) == 50 and set(submitted) == sample and sum(submitted.values()) == 50
    assert summary.jobs_submitted == 1
    # the shards' own requests are untouched, and the pilot's checkpoint is complete
    assert ledger_states(corpus) == {"done": 50, "pending": registered}
    assert ledger.checkpoint_status(corpus, s.version, "pilot") == "completed"


def test_recovery_leaves_a_live_owners_job_alone_and_takes_over_an_expired_lease(corpus, client, tmp_path):
    s = settings(tmp_path, POLYMATH_JOB_LEASE_S="60")
    runner.select_pilot(corpus, s, 10)
    # another live process (this host, this pid, another identity) is building a job
    other = control.process_owner().rsplit(":", 1)[0] + ":someone-else"
    job_id = control.create_job(corpus, version=s.version, shard=None, provider="gemini-emulator", model=s.model,
                                owner=other, lease_s=60)
    claim = control.claim(corpus, version=s.version, shard=None, selection=None, job_id=job_id, max_attempts=3,
                          retry_failed=True, fixed_chars=0, room_chars=None)
    corpus.commit()
    assert claim.claimed == 10
    assert runner.recover(corpus, client, s) == []
    assert ledger_states(corpus) == {"in_flight": 10}
    # a guarded transition by someone who is not the owner is a no-op
    assert not control.transition(corpus, job_id, expected="building", owner=s.owner, state="abandoned")
    corpus.commit()
    # once the lease has run out, recovery takes the job over and releases it
    corpus.execute("UPDATE batch_jobs SET lease_expires_at = now() - interval '1 second'")
    corpus.commit()
    notes = runner.recover(corpus, client, s)
    assert notes == [f"job {job_id}: interrupted before submission; 10 requests back to pending"]
    assert ledger_states(corpus) == {"pending": 10}
    assert corpus.execute("SELECT max(attempts) FROM passage_requests").fetchone()[0] == 0


def test_the_heartbeat_renews_a_lease_and_notices_when_it_is_lost(corpus, tmp_path):
    import time

    s = settings(tmp_path)
    job_id = control.create_job(corpus, version=s.version, shard=0, provider="gemini-emulator", model=s.model,
                                owner=s.owner, lease_s=1)
    corpus.commit()
    lease = "SELECT extract(epoch FROM lease_expires_at - now()) FROM batch_jobs WHERE job_id = %s"
    with control.heartbeat(corpus, job_id, s.owner, 1) as lost:
        time.sleep(1.5)  # longer than the lease: only the heartbeat keeps it alive
        corpus.rollback()
        assert corpus.execute(lease, (job_id,)).fetchone()[0] > 0
    assert not lost.is_set()
    corpus.execute("UPDATE batch_jobs SET owner = 'elsewhere:1:x' WHERE job_id = %s", (job_id,))
    corpus.commit()
    with control.heartbeat(corpus, job_id, s.owner, 1) as lost:
        time.sleep(0.8)
    assert lost.is_set()


def test_estimates_are_calibrated_on_what_count_tokens_sees_and_on_billed_output(corpus, client, tmp_path):
    from polymath_assets.extraction.cost import estimate_prompt_tokens
    from polymath_assets.extraction.requests import build_request, contents_chars

    s = settings(tmp_path)
    runner.select_pilot(corpus, s, 20)
    calibrated = runner.calibrate_tokens(corpus, client, s)
    texts = control.waiting_sample(corpus, version=s.version, max_attempts=s.max_attempts, limit=20)
    counted = sum(client.count_tokens(s.model, build_request(t, s.request)) for t in texts)
    # countTokens is given the contents only: the ratio reproduces its counts of them
    estimated = sum(estimate_prompt_tokens(contents_chars(t, s.request), calibrated.chars_per_token) for t in texts)
    assert abs(estimated - counted) <= len(texts)
    assert calibrated.expected_output_tokens == s.expected_output_tokens  # no usage billed yet

    drive(corpus, client, s, pilot=True, poll_interval_s=0.05)
    output, requests = corpus.execute("SELECT output_tokens, request_count FROM batch_jobs "
                                      "WHERE state = 'ingested'").fetchone()
    assert runner.calibrate_output(corpus, s).expected_output_tokens == round(output / requests)


def test_shards_to_submit_names_deferred_work_once_the_cap_has_room(corpus, client, emulator, tmp_path):
    a, b = shards_by_size(corpus, 2)
    probe = settings(tmp_path)
    for shard in (a, b):
        runner.select_shard(corpus, probe, shard)
    first = runner.estimate_pending(corpus, probe, a)["prompt_tokens"]
    s = settings(tmp_path, POLYMATH_MAX_ENQUEUED_TOKENS=str(first + 1))
    emulator.pending_s = 3600
    assert runner.submit(corpus, client, s, a).job_id is not None
    deferred = runner.submit(corpus, client, s, b)
    assert deferred.deferred and deferred.reason.startswith("deferred")
    assert runner.shards_to_submit(corpus, s) == []  # the cap is full
    job = ledger.jobs(corpus, s.version, ledger.ACTIVE_JOB_STATES)[0]
    client.cancel(job.job_name)
    runner.refresh(corpus, client, s, job)  # cancelled: its requests wait again, the cap has room
    assert sorted(runner.shards_to_submit(corpus, s)) == sorted([a, b])
    assert corpus.execute("SELECT max(attempts) FROM passage_requests").fetchone()[0] == 0


def test_a_submission_that_fails_midway_is_settled_at_once_by_its_own_process(corpus, client, emulator, tmp_path):
    from polymath_assets.gemini.client import JSONL_MIME_TYPES, ProviderError

    s = settings(tmp_path)  # a five-minute lease: only giving the job up makes recovery immediate
    runner.select_pilot(corpus, s, 10)
    selection = runner.pilot_selection(corpus, s)
    emulator.faults = Faults(reject_mime_types=set(JSONL_MIME_TYPES))
    with pytest.raises(ProviderError):
        runner.submit(corpus, client, s, None, selection=selection)
    assert ledger_states(corpus) == {"in_flight": 10}
    notes = runner.recover(corpus, client, s)
    assert len(notes) == 1 and "10 requests back to pending" in notes[0]
    assert ledger_states(corpus) == {"pending": 10}
    assert corpus.execute("SELECT state FROM spend_ledger").fetchall() == [("released",)]
    assert control.committed_usd(corpus, s.version) == 0


def test_two_pollers_refresh_and_ingest_one_job_once(corpus, client, kb_dsn, tmp_path):
    s = settings(tmp_path)
    runner.select_pilot(corpus, s, 40)
    job_id = runner.submit(corpus, client, s, None, selection=runner.pilot_selection(corpus, s)).job_id
    job = ledger.jobs(corpus, s.version, ledger.ACTIVE_JOB_STATES, job_ids=[job_id])[0]
    start = threading.Barrier(2)
    results = []

    def poll_and_ingest() -> None:
        with psycopg.connect(kb_dsn) as conn:
            start.wait()
            runner.refresh(conn, client, s, job)  # both read "submitted"; the second update is a no-op
            results.append(runner.ingest(conn, client, s, job))

    threads = [threading.Thread(target=poll_and_ingest) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    loaded = [r for r in results if r is not None]
    assert len(results) == 2 and len(loaded) == 1
    assert ledger_states(corpus) == {"done": 40}
    concepts = corpus.execute("SELECT count(*) FROM passage_concepts").fetchone()[0]
    assert concepts == loaded[0].concepts_loaded == corpus.execute(
        "SELECT sum(concept_count) FROM passage_requests").fetchone()[0]
    assert corpus.execute("SELECT state FROM spend_ledger").fetchall() == [("actual",)]


def test_a_dagster_submission_held_back_by_the_token_cap_waits_in_its_run_and_tries_again(
        corpus, kb_dsn, client, emulator, tmp_path):
    """Under Dagster the cap holds a shard's step in its run (retried after
    POLYMATH_CAP_RETRY_S) instead of recording a materialization that submitted nothing.
    (A step deferred because another run submits the same shard is not retried: the
    four-concurrent-runs test in test_control_plane_processes.py shows that.)"""
    from polymath_assets.config import Config
    from polymath_assets.defs.resources import GeminiResource

    a, b = shards_by_size(corpus, 2)
    probe = settings(tmp_path)
    for shard in (a, b):
        runner.select_shard(corpus, probe, shard)
    cap = runner.estimate_pending(corpus, probe, a)["prompt_tokens"] + 1
    config = Config.from_env({"POLYMATH_HOME": str(tmp_path), "POLYMATH_MAX_ENQUEUED_TOKENS": str(cap),
                              "POLYMATH_CAP_RETRY_S": "1", "POLYMATH_CAP_RETRIES": "2"})
    emulator.pending_s = 3600
    assert runner.submit(corpus, client, runner.ExtractionSettings.from_config(config), a).job_id is not None
    corpus.commit()

    by_name = {asset.key.to_user_string(): asset for asset in ASSETS}
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([by_name["gemini_batch_jobs"]], partition_key=shard_key(b), instance=instance,
                            resources={"postgres": PostgresResource(dsn_override=kb_dsn, settings=config),
                                       "gemini": GeminiResource(base_url_override=emulator.base_url, settings=config)},
                            raise_on_error=False)
    assert not result.success  # the cap never had room: the step gave up after its retries
    retries = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert len(retries) == 2
    corpus.rollback()
    assert [j.shard for j in ledger.jobs(corpus, probe.version, ledger.ACTIVE_JOB_STATES)] == [a]
