"""`polymath services` as an operator uses it, in its own POLYMATH_HOME, through the CLI."""

import json
import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from polymath_assets.graph.connection import open_graph


@pytest.fixture
def cli(tmp_path):
    env = {**os.environ, "POLYMATH_HOME": str(tmp_path / "home")}

    def run(*args, check=True):
        result = subprocess.run([sys.executable, "-m", "polymath_assets.cli", *args], env=env,
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
