"""Exit statuses and signals of the long commands, on the real `polymath` process: a
failed gate is a non-zero exit; SIGTERM/SIGINT stop at the next safe point with 143/130
and a message that says how to resume; a lost database is a message, not a traceback."""

import signal

import pytest

from polymath_assets.interrupts import RESUME_MESSAGE
from polymath_assets.local import emulator_service
from polymath_assets_tests.extraction_helpers import ledger_states, load_sample, run_cli


@pytest.fixture
def home(tmp_path):
    yield tmp_path
    emulator_service.stop(tmp_path)


def test_a_failed_gate_exits_non_zero_from_pilot(kb_dsn, kb, home):
    load_sample(kb)
    result = run_cli(home, kb_dsn, "pilot", "--offline", "--size", "20", "--poll-interval", "0.1",
                     env={"POLYMATH_GATE_CONCEPTS_MIN": "100"})  # no passage has 100 concepts
    assert result.returncode == 1, result.stderr
    assert "a quality gate failed" in result.stderr and "Traceback" not in result.stderr


def test_sigterm_stops_the_pilot_at_a_safe_point_and_running_again_resumes(kb_dsn, kb, home):
    load_sample(kb)
    stopped = run_cli(home, kb_dsn, "pilot", "--offline", "--size", "20", "--poll-interval", "0.1",
                      env={"POLYMATH_FAILPOINT": "round", "POLYMATH_FAILPOINT_SIGNAL": "TERM"})
    assert stopped.returncode == 128 + signal.SIGTERM == 143, stopped.stderr
    assert RESUME_MESSAGE in stopped.stderr and "Traceback" not in stopped.stderr
    kb.rollback()
    assert ledger_states(kb) == {"pending": 20}  # stopped before submitting anything

    resumed = run_cli(home, kb_dsn, "pilot", "--offline", "--size", "20", "--poll-interval", "0.1")
    assert resumed.returncode == 0, resumed.stderr
    kb.rollback()
    assert ledger_states(kb) == {"done": 20}


@pytest.mark.slow
def test_sigterm_to_run_exits_143_and_starts_no_further_shard(kb_dsn, kb, home):
    load_sample(kb)
    shards = [s for (s,) in kb.execute("SELECT DISTINCT shard_hash % 64 FROM passages ORDER BY 1 LIMIT 2")]
    args = [a for s in shards for a in ("--shard", str(s))]
    # SIGTERM arrives while the first shard's results are being loaded
    result = run_cli(home, kb_dsn, "run", "--offline", *args, timeout=300,
                     env={"POLYMATH_FAILPOINT": "mid_ingest", "POLYMATH_FAILPOINT_SIGNAL": "TERM",
                          "DAGSTER_HOME": str(home / "dagster")})
    assert result.returncode == 143, result.stdout + result.stderr
    assert RESUME_MESSAGE in result.stderr and "Traceback" not in result.stderr
    assert f"shard-{shards[0]:03d}" in result.stdout and f"shard-{shards[1]:03d}" not in result.stdout
    kb.rollback()
    started = {s for (s,) in kb.execute("SELECT DISTINCT shard FROM passage_requests")}
    assert started == {shards[0]}  # the second shard never started


def test_a_lost_database_is_a_message_not_a_traceback(home):
    result = run_cli(home, "postgresql://nobody@127.0.0.1:9/none?connect_timeout=1", "status")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "POSTGRES" in result.stderr.upper() or "database" in result.stderr.lower()


@pytest.mark.parametrize("error, says", [
    ("psycopg", "lost the connection to PostgreSQL (server closed the connection unexpectedly)"),
    ("transport", "lost the connection to the Gemini provider"),
])
def test_a_connection_lost_mid_command_is_a_message_with_the_next_step(kb_dsn, tmp_path, monkeypatch, error, says):
    import psycopg
    from click.testing import CliRunner

    from polymath_assets.cli import main
    from polymath_assets.gemini.client import TRANSPORT_ERRORS
    from polymath_assets.kb import ledger

    def lost(*args, **kwargs):
        if error == "psycopg":
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        raise TRANSPORT_ERRORS[0]("Server disconnected without sending a response.")

    monkeypatch.setattr(ledger, "status_counts", lost)  # the connection goes away mid-command
    monkeypatch.setenv("POSTGRES_DSN", kb_dsn)
    monkeypatch.setenv("POLYMATH_HOME", str(tmp_path))
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 1 and result.exc_info[0] is SystemExit
    assert says in result.output and "run the same command again to resume" in result.output
