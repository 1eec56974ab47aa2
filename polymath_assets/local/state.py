"""Small shared pieces of the embedded-services layer."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

Report = Callable[[str], None]  # where progress lines of a long wait go (stderr for the CLI)


def no_report(message: str) -> None:
    """A Report that drops the lines (library use, tests)."""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    mode: str  # "embedded" or "external"
    uri: str | None
    answering: bool
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def free_port(host: str = "127.0.0.1", low: int = 20000, high: int = 32767) -> int:
    """A free TCP port in [low, high]. The range stays below 32768 because FalkorDB
    silently ignores a BOLT_PORT above that (and the kernel's ephemeral range starts there)."""
    import random

    for _ in range(200):
        port = random.randint(low, high)
        if port_is_free(port, host):
            return port
    raise RuntimeError(f"no free TCP port between {low} and {high} on {host}")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def terminate(pid: int, timeout_s: float) -> None:
    """SIGTERM, then SIGKILL if the process is still there after ``timeout_s``. A zombie
    counts as gone: a daemon's exit is reaped by whoever adopted it, maybe late."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return
        proc.terminate()
    except psutil.NoSuchProcess:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.02)
    try:
        proc.kill()
    except psutil.NoSuchProcess:
        pass


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the block. Processes that
    start the same server at once take turns, so one server starts, not two."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def log_tail(path: Path, nbytes: int, start_marker: str | None = None) -> list[str]:
    """The lines of the last ``nbytes`` of a log that is never rotated (the first one cut
    by the window dropped), from the last line holding ``start_marker`` if one is given
    and found there; [] when the file cannot be read."""
    try:
        with open(path, "rb") as f:
            start = max(0, f.seek(0, os.SEEK_END) - nbytes)
            f.seek(start)
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []
    if start:
        lines = lines[1:]
    if start_marker is not None:
        starts = [i for i, line in enumerate(lines) if start_marker in line]
        lines = lines[starts[-1]:] if starts else lines
    return lines


def cpu_seconds(pid: int) -> float | None:
    """CPU time used so far by a process and its children, or None if it is gone."""
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0.0
    for one in procs:
        try:
            times = one.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


class Wait:
    """The bookkeeping of waiting on a server that is starting: progress lines (at most one
    every ``every_s``, none at all when it answers at once) and the timeout, which counts
    only the time since the server last showed it is working — a load or a recovery takes
    as long as the data needs, a server that does nothing is given ``timeout_s``."""

    def __init__(self, report: Report, timeout_s: float, every_s: float = 2.0):
        self.report = report
        self.timeout_s = timeout_s
        self.every_s = every_s
        self.started = self.last_sign = time.monotonic()
        self.last_report: float | None = None
        self.reported = False
        self._cpu: float | None = None

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def working(self) -> None:
        """The server showed it is working (loading, recovering)."""
        self.last_sign = time.monotonic()

    def working_if_cpu(self, pid: int) -> None:
        """Count CPU time the server (or its children) spent since the last look as work."""
        cpu = cpu_seconds(pid)
        if cpu is not None and self._cpu is not None and cpu > self._cpu:
            self.working()
        self._cpu = cpu

    def progress(self, message: str) -> None:
        now = time.monotonic()
        if now - (self.started if self.last_report is None else self.last_report) >= self.every_s:
            self.report(message)
            self.last_report, self.reported = now, True

    @property
    def timed_out(self) -> bool:
        return time.monotonic() - self.last_sign > self.timeout_s
