"""Named crash points for resume tests: the process signals itself at a chosen moment.

``POLYMATH_FAILPOINT=<name>`` (and optionally ``POLYMATH_FAILPOINT_SIGNAL=INT|KILL``,
default KILL) makes ``failpoint(name)`` deliver that signal to the current process.
Unset — always, outside the tests — it does nothing. The tests use it to interrupt a
run exactly where a crash is most dangerous (between the provider creating a job and us
recording its name, in the middle of loading results) and then check that running again
loses and duplicates nothing.

Every failpoint is also a safe point for a stop the operator asked for (SIGINT/SIGTERM,
see ``interrupts``): the steps commit before each one.
"""

from __future__ import annotations

import os
import signal


def failpoint(name: str) -> None:
    from polymath_assets.interrupts import checkpoint

    if os.environ.get("POLYMATH_FAILPOINT") == name:
        chosen = os.environ.get("POLYMATH_FAILPOINT_SIGNAL", "KILL").upper()
        sig = {"INT": signal.SIGINT, "TERM": signal.SIGTERM}.get(chosen, signal.SIGKILL)
        os.kill(os.getpid(), sig)
    checkpoint()
