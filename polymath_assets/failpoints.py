"""Named crash points for resume tests: a signal delivered at a chosen moment.

``POLYMATH_FAILPOINT=<name>`` (and optionally ``POLYMATH_FAILPOINT_SIGNAL=INT|TERM|KILL``,
default KILL) makes ``failpoint(name)`` deliver that signal to the current process.
Unset — always, outside the tests — it does nothing. The tests use it to interrupt a
run exactly where a crash is most dangerous (between the provider creating a job and us
recording its name, in the middle of loading results) and then check that running again
loses and duplicates nothing.

Two options aim it elsewhere or later:

- ``POLYMATH_FAILPOINT_PID_FILE=<path>``: signal the process whose pid that file holds
  instead of this one (read at the moment it fires) — e.g. the embedded graph server's
  ``<home>/graph/redis.pid`` with ``graph_statement``, which is hit after every statement
  of a graph sync: the server dies mid-sync, the run goes on to meet it gone.
- ``POLYMATH_FAILPOINT_AFTER=<n>``: fire on the n-th hit of the point in this process
  only (without it: on every hit).

Every failpoint is also a safe point for a stop the operator asked for (SIGINT/SIGTERM,
see ``interrupts``): the extraction steps commit before each one, and a graph sync
stopped between two statements leaves its change-log claim for the next run, which
redoes it (every statement is idempotent).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

_hits: dict[str, int] = {}  # hits per failpoint in this process, for POLYMATH_FAILPOINT_AFTER


def failpoint(name: str) -> None:
    from polymath_assets.interrupts import checkpoint

    if os.environ.get("POLYMATH_FAILPOINT") == name and _due(name):
        chosen = os.environ.get("POLYMATH_FAILPOINT_SIGNAL", "KILL").upper()
        sig = {"INT": signal.SIGINT, "TERM": signal.SIGTERM}.get(chosen, signal.SIGKILL)
        os.kill(_target(), sig)
    checkpoint()


def _due(name: str) -> bool:
    _hits[name] = _hits.get(name, 0) + 1
    after = os.environ.get("POLYMATH_FAILPOINT_AFTER")
    return after is None or _hits[name] == int(after)


def _target() -> int:
    pid_file = os.environ.get("POLYMATH_FAILPOINT_PID_FILE")
    return int(Path(pid_file).read_text().strip()) if pid_file else os.getpid()
