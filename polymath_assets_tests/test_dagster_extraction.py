"""Extraction through Dagster: real materializations on an ephemeral instance, the real SDK
against the emulator, and the batch-completion sensor deciding what to launch."""

import time

import dagster as dg
import pytest

from polymath_assets.definitions import defs
from polymath_assets.defs.resources import GeminiResource, PostgresResource
from polymath_assets.extraction import runner
from polymath_assets.extraction.completion import (
    MAX_RUN_ATTEMPTS,
    Launch,
    ShardState,
    jobs_to_poll,
    launches,
    tick_message,
)
from polymath_assets.gemini.emulator import Faults, GeminiEmulator
from polymath_assets_tests.extraction_helpers import ledger_states, load_sample

ASSETS = {a.key.to_user_string(): a for a in defs.assets}
pending_passages, gemini_batch_jobs, passage_concepts = (
    ASSETS["pending_passages"], ASSETS["gemini_batch_jobs"], ASSETS["passage_concepts"])
batch_completion_sensor = defs.resolve_sensor_def("batch_completion_sensor")


@pytest.mark.parametrize("active, cursor, limit, expected", [
    ([1, 2, 3], 0, 2, [1, 2]),
    ([1, 2, 3], 2, 2, [3, 1]),
    ([1, 2, 3], 3, 5, [1, 2, 3]),
    ([], 7, 3, []),
])
def test_sensor_polls_round_robin_within_a_bound(active, cursor, limit, expected):
    assert jobs_to_poll(active, cursor, limit) == expected


SETTLE, SUBMIT = "settle_shards", "submit_batches"


@pytest.mark.parametrize("states, busy, failed, expected", [
    # succeeded jobs not yet ingested, in any shards → one settle run, named by the newest
    ([ShardState(4, 0, 0, 9, (7, 9)), ShardState(5, 0, 0, 8, (8,))], set(), {},
     [Launch(SETTLE, None, "settle-after-job-9", 1)]),
    # ... again after a failed settle run, with the next attempt number
    ([ShardState(4, 0, 0, 7, (7,))], set(), {"settle-after-job-7": 2}, [Launch(SETTLE, None, "settle-after-job-7", 3)]),
    # ... but not while a settle run is queued or going
    ([ShardState(4, 0, 0, 7, (7,))], {(SETTLE, None)}, {}, []),
    # requests back to pending and nothing in flight → resubmit after the latest job
    ([ShardState(6, 12, 0, 3, ())], set(), {}, [Launch(SUBMIT, 6, "resubmit-shard-6-after-job-3", 1)]),
    ([ShardState(6, 12, 0, 3, ())], set(), {"resubmit-shard-6-after-job-3": 1},
     [Launch(SUBMIT, 6, "resubmit-shard-6-after-job-3", 2)]),
    # a job still in flight owns the shard: nothing resubmitted
    ([ShardState(6, 12, 1, 4, ())], set(), {}, []),
    ([ShardState(6, 12, 0, 3, ())], {(SUBMIT, 6)}, {}, []),
    # nothing waiting, nothing succeeded: nothing to do
    ([ShardState(6, 0, 0, 3, ())], set(), {}, []),
    # both at once: a succeeded job to load and failed requests of another to resubmit
    ([ShardState(2, 5, 0, 8, (8,))], {(SUBMIT, 3)}, {},
     [Launch(SETTLE, None, "settle-after-job-8", 1), Launch(SUBMIT, 2, "resubmit-shard-2-after-job-8", 1)]),
])
def test_sensor_launch_decisions(states, busy, failed, expected):
    assert launches(states, busy, failed) == (expected, [])


def test_work_that_failed_too_often_is_given_up_and_said_so():
    found, given_up = launches([ShardState(4, 0, 0, 7, (7,))], set(), {"settle-after-job-7": MAX_RUN_ATTEMPTS})
    assert found == [] and given_up == ["settle-after-job-7"]
    message = tick_message({}, {}, [], 3, found, given_up)
    assert "not relaunched after 3 failed runs: settle-after-job-7" in message


def test_run_keys_carry_the_attempt():
    assert Launch(SETTLE, None, "settle-after-job-7", 2).run_key == "settle-after-job-7-attempt-2"


def test_the_tick_message_names_the_jobs_polled_and_the_runs_launched():
    message = tick_message({3: "running", 7: "succeeded"}, {9: "HTTP 503 from the provider"}, [11, 12], 5,
                           [Launch(SETTLE, None, "settle-after-job-7", 1)], [])
    assert message.startswith("polled 3 of 5 jobs in flight: job 3 running, job 7 succeeded")
    assert "could not read job 9 (HTTP 503" in message
    assert "2 left for the next tick (deadline)" in message
    assert message.endswith("launched settle-after-job-7-attempt-1")


class Clock:
    def __init__(self):
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def emulator(tmp_path, clock):
    with GeminiEmulator(state_dir=tmp_path / "emu", faults=Faults(), clock=clock) as emu:
        yield emu


@pytest.fixture
def resources(kb_dsn, emulator):
    return {"postgres": PostgresResource(dsn_override=kb_dsn), "gemini": GeminiResource(base_url_override=emulator.base_url)}


def tick(instance, resources, cursor=None):
    """One sensor evaluation on a real instance: (its run requests, its skip message, the
    cursor it leaves)."""
    # Resources that take the Config as a dependency are opened like generators: use `with`.
    with dg.build_sensor_context(instance=instance, resources=resources, definitions=defs, cursor=cursor) as context:
        result = batch_completion_sensor(context)
        return result.run_requests, result.skip_reason and result.skip_reason.skip_message, context.cursor


def shard_with_most_passages(conn) -> int:
    return conn.execute("SELECT shard_hash % 64 AS s FROM passages GROUP BY s ORDER BY count(*) DESC, s LIMIT 1").fetchone()[0]


def test_materialize_one_shard_through_the_sensor(kb, resources, emulator, clock):
    load_sample(kb)
    shard = shard_with_most_passages(kb)
    key = f"shard-{shard:03d}"
    instance = dg.DagsterInstance.ephemeral()
    emulator.pending_s = 3600  # the job stays in flight until we say so

    submitted = dg.materialize([pending_passages, gemini_batch_jobs], partition_key=key, resources=resources,
                               instance=instance)
    assert submitted.success
    meta = submitted.asset_materializations_for_node("gemini_batch_jobs")[0].metadata
    assert meta["note"].value == "submitted" and meta["requests"].value > 0
    kb.rollback()
    selected = kb.execute("SELECT count(*) FROM passage_requests").fetchone()[0]
    assert ledger_states(kb) == {"in_flight": selected}

    # re-materializing never submits a second job for work in flight
    again = dg.materialize([pending_passages, gemini_batch_jobs], partition_key=key, resources=resources,
                           instance=instance)
    assert again.asset_materializations_for_node("gemini_batch_jobs")[0].metadata["note"].value.endswith("in flight")

    runs, skipped, cursor = tick(instance, resources)
    (job_id,) = kb.execute("SELECT job_id FROM batch_jobs").fetchone()
    kb.rollback()
    assert not runs and skipped == f"polled 1 of 1 jobs in flight: job {job_id} pending; nothing to launch"

    clock.now += 3601  # an hour later, the provider has finished the job
    runs, _, _ = tick(instance, resources, cursor)
    assert [(r.job_name, r.partition_key, r.run_key) for r in runs] == [
        ("settle_shards", None, f"settle-after-job-{job_id}-attempt-1")]

    loaded = dg.materialize([passage_concepts], partition_key=key, resources=resources, instance=instance)
    assert loaded.success
    meta = loaded.asset_materializations_for_node("passage_concepts")[0].metadata
    assert meta["concepts loaded now"].value > 0 and meta["parse failures"].value == 0
    kb.rollback()
    assert ledger_states(kb) == {"done": selected}

    # idempotent: materializing again loads nothing new
    repeat = dg.materialize([passage_concepts], partition_key=key, resources=resources, instance=instance)
    assert repeat.asset_materializations_for_node("passage_concepts")[0].metadata["concepts loaded now"].value == 0


def test_pilot_job_runs_and_writes_a_report(kb, resources):
    load_sample(kb)
    result = defs.get_job_def("pilot").execute_in_process(
        run_config={"ops": {"run_pilot": {"config": {"size": 40, "poll_interval_s": 0.05}}}},
        resources=resources, instance=dg.DagsterInstance.ephemeral())
    assert result.success
    kb.rollback()
    assert ledger_states(kb) == {"done": 40}


def submit_shard(kb, resources, instance) -> str:
    load_sample(kb)
    key = f"shard-{shard_with_most_passages(kb):03d}"
    assert dg.materialize([pending_passages, gemini_batch_jobs], partition_key=key, resources=resources,
                          instance=instance).success
    kb.rollback()
    return key


def test_a_failed_job_refreshed_first_by_the_cli_still_gets_its_resubmission_run(kb, resources, emulator, tmp_path):
    """Edge-triggered, the sensor acted only on changes it saw itself; level-triggered, the
    ledger's state is enough, whoever recorded it (and a tick that died after committing
    the refresh loses nothing either: the next tick reads the same state)."""
    instance = dg.DagsterInstance.ephemeral()
    emulator.faults = Faults(quota_fail_jobs=1)
    key = submit_shard(kb, resources, instance)
    settings = runner.ExtractionSettings.from_config(resources["postgres"].config())
    from polymath_assets.kb import ledger

    (job,) = ledger.jobs(kb, settings.version, ledger.ACTIVE_JOB_STATES)
    client = resources["gemini"].client()
    assert runner.refresh(kb, client, settings, job).state == "failed"  # e.g. `polymath pilot` polled it

    runs, _, _ = tick(instance, resources)
    assert [(r.job_name, r.partition_key, r.run_key) for r in runs] == [
        ("submit_batches", key, f"resubmit-shard-{int(key[-3:])}-after-job-{job.job_id}-attempt-1")]
    again, _, _ = tick(instance, resources)  # the same state asks for the same key: Dagster drops the repeat
    assert [r.run_key for r in again] == [r.run_key for r in runs]


def test_a_failed_settle_run_is_launched_again_on_a_later_tick(kb, resources, emulator, graph_server):
    from polymath_assets.defs.jobs import SENSOR_WORK_TAG
    from polymath_assets.defs.resources import EmbeddingResource, GraphResource

    instance = dg.DagsterInstance.ephemeral()
    submit_shard(kb, resources, instance)
    (first,), _, _ = tick(instance, resources)
    assert first.job_name == "settle_shards" and first.run_key.endswith("-attempt-1")

    # the settle run fails for real: the provider cannot be reached for the download
    broken = {**resources, "gemini": GeminiResource(base_url_override="http://127.0.0.1:9"),
              "graph": GraphResource(uri_override=graph_server), "embedder": EmbeddingResource(model="packaged-minilm")}
    failed = defs.resolve_job_def("settle_shards").execute_in_process(
        resources=broken, instance=instance, raise_on_error=False, tags={SENSOR_WORK_TAG: first.tags[SENSOR_WORK_TAG]})
    assert not failed.success
    kb.rollback()
    assert kb.execute("SELECT state FROM batch_jobs").fetchone()[0] == "succeeded"  # nothing half-loaded

    (second,), _, _ = tick(instance, resources)
    assert (second.job_name, second.partition_key) == ("settle_shards", None)
    assert second.run_key == first.run_key.replace("attempt-1", "attempt-2")

    # while a settle run is queued, the sensor launches no second one
    queued = instance.create_run_for_job(defs.resolve_job_def("settle_shards"))
    assert instance.get_run_by_id(queued.run_id).status == dg.DagsterRunStatus.NOT_STARTED
    runs, skipped, _ = tick(instance, resources)
    assert not runs and skipped.endswith("nothing to launch")


def test_a_tick_that_dies_after_committing_its_poll_loses_nothing(kb, resources, emulator, monkeypatch):
    from polymath_assets.defs import jobs as sensor_module

    instance = dg.DagsterInstance.ephemeral()
    emulator.faults = Faults(expire_jobs=1)
    key = submit_shard(kb, resources, instance)
    real = sensor_module.shard_states

    def dies(*args, **kwargs):
        raise RuntimeError("the tick's process died here")

    monkeypatch.setattr(sensor_module, "shard_states", dies)
    with pytest.raises(RuntimeError):
        tick(instance, resources)  # it polled the job (expired) and committed that, then died
    kb.rollback()
    assert kb.execute("SELECT state FROM batch_jobs").fetchone()[0] == "expired"

    monkeypatch.setattr(sensor_module, "shard_states", real)
    runs, _, _ = tick(instance, resources)
    assert [(r.job_name, r.partition_key) for r in runs] == [("submit_batches", key)]


def test_a_tick_returns_by_its_deadline_while_the_provider_holds_every_status_call(kb, kb_dsn, emulator, clock):
    """The provider answers no status call: the tick stops polling at its own deadline
    (POLYMATH_SENSOR_POLL_S, each call given only the time left), says which jobs it could
    not read and which it left for later, and returns — well inside Dagster's 60 s. Once
    the provider answers again, the next ticks poll the jobs and launch their settle run."""
    from polymath_assets.config import Config
    from polymath_assets.definitions import build_definitions

    config = Config.from_env({"POLYMATH_SENSOR_POLL_S": "3"})
    quick = build_definitions(config)
    sensor = quick.resolve_sensor_def("batch_completion_sensor")
    resources = {"postgres": PostgresResource(dsn_override=kb_dsn, settings=config),
                 "gemini": GeminiResource(base_url_override=emulator.base_url, settings=config)}
    instance = dg.DagsterInstance.ephemeral()
    load_sample(kb)
    shards = [s for (s,) in kb.execute(
        "SELECT shard_hash % 64 FROM passages GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 3")]
    kb.rollback()
    for shard in shards:
        assert dg.materialize([pending_passages, gemini_batch_jobs], partition_key=f"shard-{shard:03d}",
                              resources=resources, instance=instance).success

    def tick(cursor=None):
        with dg.build_sensor_context(instance=instance, resources=resources, definitions=quick,
                                     cursor=cursor) as context:
            started = time.monotonic()
            result = sensor(context)
            return result, context.cursor, time.monotonic() - started

    emulator.hold_status(True)
    try:
        held, cursor, seconds = tick()
        assert seconds < 15, f"the tick took {seconds:.1f}s against a 3 s polling deadline"
        assert not held.run_requests
        message = held.skip_reason.skip_message
        assert message.startswith("polled 1 of 3 jobs in flight; could not read job"), message
        assert "left for the next tick (deadline)" in message, message
        assert emulator.held_status_calls >= 1
    finally:
        emulator.hold_status(False)

    clock.now += 1  # the provider answers again, and the jobs have finished meanwhile
    launched = []
    for _ in range(3):  # the jobs left for later are polled on later ticks, round-robin
        result, cursor, _ = tick(cursor)
        launched += result.run_requests
        if launched:
            break
    assert [(r.job_name, r.partition_key) for r in launched] == [("settle_shards", None)]
    kb.rollback()
    states = dict(kb.execute("SELECT state, count(*) FROM batch_jobs GROUP BY 1").fetchall())
    assert states.get("succeeded", 0) >= 1, states


def test_a_slot_freed_before_the_waiting_step_queued_is_still_handed_to_it(tmp_path):
    """The race PoolWatch mends (two processes, Dagster's non-atomic claim): a pool with a free
    slot and a step queued without it. Left alone the step would wait forever; the watch
    assigns it, as Dagster's own hand-over would have."""
    from polymath_assets.defs.execution import PoolWatch

    instance = dg.DagsterInstance.local_temp(str(tmp_path))
    storage = instance.event_log_storage
    storage.set_concurrency_slots("gpu", 1)
    storage.add_pending_step(concurrency_key="gpu", run_id="run-a", step_key="passage_embeddings",
                             should_assign=False)
    assert not storage.check_concurrency_claim("gpu", "run-a", "passage_embeddings").is_assigned
    with PoolWatch(instance, {"gpu"}, every_s=0.05):
        deadline = time.monotonic() + 10
        while not storage.check_concurrency_claim("gpu", "run-a", "passage_embeddings").is_assigned:
            assert time.monotonic() < deadline, "the free slot never reached the waiting step"
            time.sleep(0.05)
    # a step that waits behind a held slot is left waiting
    storage.claim_concurrency_slot("gpu", "run-a", "passage_embeddings")
    storage.add_pending_step(concurrency_key="gpu", run_id="run-b", step_key="passage_embeddings",
                             should_assign=False)
    with PoolWatch(instance, {"gpu"}, every_s=0.05):
        time.sleep(0.3)
    assert not storage.check_concurrency_claim("gpu", "run-b", "passage_embeddings").is_assigned
