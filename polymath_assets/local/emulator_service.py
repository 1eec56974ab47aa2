"""The offline Gemini emulator as a local service (``--offline``).

It runs as its own detached process, like the other embedded servers, so that batch jobs
in flight survive the CLI process being interrupted: running the command again
re-attaches to them. Bound to 127.0.0.1; state under ``<home>/emulator``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

from polymath_assets.local.state import ServiceStatus, free_port, locked, read_json, terminate, write_json

START_TIMEOUT_S = 15.0


def _dir(home: Path) -> Path:
    return home / "emulator"


def _running(home: Path) -> tuple[int, int] | None:
    """(pid, port) of our emulator process, or None (a stale record is removed)."""
    record = read_json(_dir(home) / "process.json")
    if not record:
        return None
    try:
        proc = psutil.Process(record["pid"])
        if proc.status() != psutil.STATUS_ZOMBIE and "polymath_assets.gemini.emulator" in " ".join(proc.cmdline()):
            return record["pid"], record["port"]
    except psutil.Error:
        pass
    (_dir(home) / "process.json").unlink(missing_ok=True)
    return None


def base_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def start(home: Path, faults_json: str | None = None) -> str:
    """Start the emulator unless it runs; return its base URL once it answers. Processes
    starting at once (two backfills) serialise on a file lock: one emulator, not two that
    each know only half of the jobs."""
    directory = _dir(home)
    with locked(directory / "start.lock"):
        return _start_locked(home, directory, faults_json)


def _start_locked(home: Path, directory: Path, faults_json: str | None) -> str:
    running = _running(home)
    if running:
        return base_url(running[1])
    port = free_port()
    env = {**os.environ}
    if faults_json:
        env["POLYMATH_EMULATOR_FAULTS"] = faults_json
    with open(directory / "emulator.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "polymath_assets.gemini.emulator", "--port", str(port),
             "--state-dir", str(directory / "state"),
             # slow jobs on purpose (demos of the sensor, resume tests): seconds spent PENDING
             "--pending-s", os.environ.get("POLYMATH_EMULATOR_PENDING_S", "0")],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    write_json(directory / "process.json", {"pid": proc.pid, "port": port})
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if _answers(port):
            return base_url(port)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"the offline Gemini emulator did not start; see {directory / 'emulator.log'}")


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def stop(home: Path) -> bool:
    running = _running(home)
    if not running:
        return False
    terminate(running[0], timeout_s=10)
    (_dir(home) / "process.json").unlink(missing_ok=True)
    return True


def status(home: Path) -> ServiceStatus:
    running = _running(home)
    if not running:
        return ServiceStatus("gemini-emulator", "offline", None, False, "not running")
    pid, port = running
    return ServiceStatus("gemini-emulator", "offline", base_url(port), _answers(port), f"pid {pid}")
