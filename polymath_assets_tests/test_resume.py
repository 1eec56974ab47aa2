"""Gate 4: a pilot killed (SIGKILL) or interrupted (SIGINT) at the dangerous moments, then run
again, ends with exactly the rows of an uninterrupted run — none lost, none doubled.

Runs the real `polymath pilot --offline` process; the emulator runs as its own process,
as in production, so jobs in flight outlive the killed CLI."""

import signal

import psycopg
import pytest

from polymath_assets.local import emulator_service
from polymath_assets_tests.extraction_helpers import concept_rows, ledger_states, load_sample, run_cli

PILOT = ("pilot", "--offline", "--size", "60", "--poll-interval", "0.2")
_baseline: dict = {}


@pytest.fixture
def home(tmp_path):
    yield tmp_path
    emulator_service.stop(tmp_path)


def pilot_rows(home, dsn, env=None):
    result = run_cli(home, dsn, *PILOT, env=env)
    return result


def baseline(new_database, tmp_path_factory) -> list[tuple]:
    if "rows" not in _baseline:
        dsn = new_database("polymath_template")
        home = tmp_path_factory.mktemp("baseline")
        with psycopg.connect(dsn) as conn:
            load_sample(conn)
        try:
            result = pilot_rows(home, dsn)
            assert result.returncode == 0, result.stderr
        finally:
            emulator_service.stop(home)
        with psycopg.connect(dsn) as conn:
            _baseline["rows"] = concept_rows(conn)
    return _baseline["rows"]


@pytest.mark.parametrize("point, sig", [
    ("after_claim", "KILL"),      # during submission: requests claimed, nothing uploaded
    ("after_upload", "KILL"),     # during submission: file uploaded, no job created
    ("after_create", "KILL"),     # the provider created the job, we never recorded its name
    ("polling", "INT"),           # Ctrl-C while the job is in flight
    ("polling", "KILL"),          # killed while the job is in flight
    ("mid_ingest", "KILL"),       # concepts half loaded, transaction not committed
    ("mid_ingest", "INT"),
])
def test_interrupted_pilot_resumes_to_the_same_rows(point, sig, kb_dsn, kb, home, new_database, tmp_path_factory):
    expected = baseline(new_database, tmp_path_factory)
    load_sample(kb)

    # jobs stay pending for a second so that "in flight" is a real state to interrupt
    interrupted = pilot_rows(home, kb_dsn, env={"POLYMATH_FAILPOINT": point, "POLYMATH_FAILPOINT_SIGNAL": sig,
                                                "POLYMATH_EMULATOR_PENDING_S": "1"})
    assert interrupted.returncode != 0
    if sig == "KILL":
        assert interrupted.returncode == -signal.SIGKILL
    kb.rollback()
    assert concept_rows(kb) != expected  # it really stopped before finishing

    resumed = pilot_rows(home, kb_dsn)
    assert resumed.returncode == 0, resumed.stderr
    kb.rollback()
    assert concept_rows(kb) == expected
    assert ledger_states(kb) == {"done": 60}
    jobs = dict(kb.execute("SELECT state, count(*) FROM batch_jobs GROUP BY state").fetchall())
    assert jobs.get("ingested") == 1  # one provider job delivered everything; nothing paid twice
    assert set(jobs) <= {"ingested", "abandoned"}
    if point == "after_create":
        assert "re-attached" in resumed.stdout
