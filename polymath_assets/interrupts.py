"""Stopping at a safe point on SIGINT / SIGTERM.

The CLI installs ``handle_signals()``: a first SIGINT or SIGTERM only records the request;
the work stops with ``Interrupted`` at the next safe point — a failpoint of the extraction
steps (each comes after a commit, see extraction.runner), or between two shards of
``polymath run``. A second signal stops at once (the steps are crash-safe anyway: running
again recovers). The exit status is 128 + the signal number (130, 143), as shells expect.
Nothing is installed outside the CLI: Dagster's own processes keep their handling.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

RESUME_MESSAGE = "interrupted: state saved; run the same command again to resume"
SIGNALS = (signal.SIGINT, signal.SIGTERM)

_requested: list[int] = []  # the signals received while handlers are installed
_installed = False


class Interrupted(Exception):
    """The operator asked the command to stop; raised at a safe point."""

    def __init__(self, signum: int):
        super().__init__(f"{RESUME_MESSAGE} ({signal.Signals(signum).name})")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _handler(signum, frame) -> None:
    _requested.append(signum)
    if len(_requested) > 1:  # asked twice: stop now
        raise Interrupted(signum)


@contextmanager
def handle_signals() -> Iterator[None]:
    global _installed
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    _requested.clear()
    for sig in SIGNALS:
        signal.signal(sig, _handler)
    _installed = True
    try:
        yield
    finally:
        _installed = False
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def checkpoint() -> None:
    """A safe point: stop here if a stop was asked for."""
    if _installed and _requested:
        raise Interrupted(_requested[0])
