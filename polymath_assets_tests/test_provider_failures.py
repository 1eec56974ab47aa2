"""The provider as it really fails, driven through the real flow (runner + SDK + emulator +
database): a create whose reply is lost never becomes two jobs."""

import pytest

from polymath_assets.extraction import runner
from polymath_assets.gemini.emulator import Faults
from polymath_assets.operations.extraction import drive
from polymath_assets_tests.extraction_helpers import ledger_states, load_sample, settings


@pytest.mark.parametrize("mode", ["drop", "503"])
def test_ambiguous_create_leaves_one_job_at_the_provider_and_one_in_the_ledger(kb, client, emulator, tmp_path, mode):
    load_sample(kb)
    s = settings(tmp_path)
    assert runner.select_pilot(kb, s, 40) == 40
    emulator.faults = Faults(ambiguous_creates=1, ambiguous_create_mode=mode)
    summary = drive(kb, client, s, pilot=True, poll_interval_s=0.05)
    assert emulator.faults.ambiguous_creates == 0  # the reply really was lost once

    jobs = emulator.job_records()
    assert len(jobs) == 1 and jobs[0].state == "SUCCEEDED"  # no orphan, nothing left running
    tracked = kb.execute("SELECT job_name, display_name, state FROM batch_jobs").fetchall()
    assert tracked == [(jobs[0].name, jobs[0].display_name, "ingested")]
    assert summary.jobs_submitted == summary.jobs_ingested == 1
    # every request went out once, in that one job
    keys = [k for (k,) in kb.execute("SELECT request_key FROM passage_requests ORDER BY 1")]
    assert sorted(jobs[0].request_keys) == keys and ledger_states(kb) == {"done": 40}


@pytest.mark.slow
def test_polymath_pilot_offline_with_a_lost_create_reply_makes_one_job(kb_dsn, kb, tmp_path):
    """The real command, the emulator as its own process with the fault from the environment."""
    import json

    from polymath_assets.gemini.client import BatchClient
    from polymath_assets.local import emulator_service
    from polymath_assets_tests.extraction_helpers import run_cli

    load_sample(kb)
    try:
        result = run_cli(tmp_path, kb_dsn, "pilot", "--offline", "--size", "20", "--poll-interval", "0.1",
                         env={"POLYMATH_EMULATOR_FAULTS": json.dumps({"ambiguous_creates": 1})})
        assert result.returncode == 0, result.stderr
        client = BatchClient("offline-emulator", base_url=emulator_service.status(tmp_path).uri)
        at_provider = [(job.name, job.state.name) for job in client._client.batches.list()]
    finally:
        emulator_service.stop(tmp_path)
    kb.rollback()
    tracked = kb.execute("SELECT job_name, state FROM batch_jobs").fetchall()
    assert len(at_provider) == 1 and at_provider[0][1] == "JOB_STATE_SUCCEEDED"
    assert tracked == [(at_provider[0][0], "ingested")] and ledger_states(kb) == {"done": 20}
