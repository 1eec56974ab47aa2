"""Named crash points for resume tests: the process signals itself at a chosen moment.

``POLYMATH_FAILPOINT=<name>`` (and optionally ``POLYMATH_FAILPOINT_SIGNAL=INT|KILL``,
default KILL) makes ``failpoint(name)`` deliver that signal to the current process.
Unset — always, outside the tests — it does nothing. The tests use it to interrupt a
run exactly where a crash is most dangerous (between the provider creating a job and us
recording its name, in the middle of loading results) and then check that running again
loses and duplicates nothing.
"""

from __future__ import annotations

import os
import signal


def failpoint(name: str) -> None:
    if os.environ.get("POLYMATH_FAILPOINT") != name:
        return
    sig = signal.SIGINT if os.environ.get("POLYMATH_FAILPOINT_SIGNAL", "KILL").upper() == "INT" else signal.SIGKILL
    os.kill(os.getpid(), sig)
