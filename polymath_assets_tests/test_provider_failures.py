"""The provider as it really fails, driven through the real flow (runner + SDK + emulator +
database): a create whose reply is lost never becomes two jobs."""

import pytest

from polymath_assets.extraction import runner
from polymath_assets.extraction.pipeline import drive
from polymath_assets.gemini.emulator import Faults
from polymath_assets_tests.extraction_helpers import ledger_states, load_sample, settings


@pytest.mark.parametrize("mode", ["drop", "503"])
def test_ambiguous_create_leaves_one_job_at_the_provider_and_one_in_the_ledger(kb, client, emulator, tmp_path, mode):
    load_sample(kb)
    s = settings(tmp_path)
    assert runner.select_pilot(kb, s, 40) == 40
    emulator.faults = Faults(ambiguous_creates=1, ambiguous_create_mode=mode)
    summary = drive(kb, client, s, pilot=True, poll_interval_s=0.05)

    jobs = emulator.job_records()
    assert len(jobs) == 1 and jobs[0].state == "SUCCEEDED"  # no orphan, nothing left running
    tracked = kb.execute("SELECT job_name, display_name, state FROM batch_jobs").fetchall()
    assert tracked == [(jobs[0].name, jobs[0].display_name, "ingested")]
    assert summary.jobs_submitted == summary.jobs_ingested == 1
    # every request went out once, in that one job
    keys = [k for (k,) in kb.execute("SELECT request_key FROM passage_requests ORDER BY 1")]
    assert sorted(jobs[0].request_keys) == keys and ledger_states(kb) == {"done": 40}
