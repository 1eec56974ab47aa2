"""Small shared pieces of the embedded-services layer."""

from __future__ import annotations

import json
import socket
from dataclasses import asdict, dataclass
from pathlib import Path


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
    """SIGTERM, then SIGKILL if the process is still there after ``timeout_s``."""
    import os
    import signal

    import psutil

    try:
        os.kill(pid, signal.SIGTERM)
        psutil.Process(pid).wait(timeout=timeout_s)
    except psutil.TimeoutExpired:
        os.kill(pid, signal.SIGKILL)
    except (psutil.NoSuchProcess, ProcessLookupError):
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
