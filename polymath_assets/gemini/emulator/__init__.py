"""An OFFLINE emulator of the Gemini Batch API and Files API, for tests and offline runs.

It speaks the wire protocol of /work/shared/docs/GEMINI_BATCH_PROTOCOL.md closely enough
that the unmodified google-genai SDK works against it:

    client = genai.Client(api_key="any", http_options=types.HttpOptions(
        base_url=emulator.base_url, api_version="v1beta"))

One module per job: ``store`` (Files API table), ``jobs`` (batch jobs and their lazy
state machine), ``faults`` (what goes wrong, on demand), ``http`` (routes and replies).
Answers carry the modelVersion "polymath-offline-emulator".
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path

from polymath_assets.gemini import offline_extractor
from polymath_assets.gemini.emulator.faults import FAULTS_ENV, QUOTA_ERROR, QUOTA_MESSAGE, Faults
from polymath_assets.gemini.emulator.http import Handler
from polymath_assets.gemini.emulator.jobs import MODEL_VERSION, JobRecord, JobTable
from polymath_assets.gemini.emulator.store import ApiError, FileStore

__all__ = ["FAULTS_ENV", "MODEL_VERSION", "QUOTA_ERROR", "QUOTA_MESSAGE", "ApiError", "Faults", "GeminiEmulator",
           "JobRecord", "main"]


class GeminiEmulator:
    """The file and job tables behind an HTTP server thread."""

    def __init__(self, port: int = 0, state_dir: str | Path | None = None, faults: Faults | None = None,
                 pending_s: float = 0.0, running_s: float = 0.0, expire_after_s: float = 48 * 3600,
                 clock: Callable[[], float] = time.time):
        self.faults = faults if faults is not None else Faults.from_env()
        self.clock = clock
        self.state_dir = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="gemini-emulator-"))
        self.files = FileStore(self.state_dir / "files", clock)
        # Tests replace ``emulator.faults`` wholesale: the tables read it through here.
        self.jobs = JobTable(self.files, lambda: self.faults, clock, pending_s, running_s, expire_after_s)
        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.emulator = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None
        self._status_released = threading.Event()
        self._status_released.set()
        self._stopping = threading.Event()
        self._held_lock = threading.Lock()
        self.held_status_calls = 0  # status calls held so far (by either hold)

    # The job clock's settings live on the job table; tests change them between jobs.
    def _timing(name: str):  # noqa: N805 - a property factory, used in the class body only
        return property(lambda self: getattr(self.jobs, name), lambda self, value: setattr(self.jobs, name, value))

    pending_s = _timing("pending_s")
    running_s = _timing("running_s")
    expire_after_s = _timing("expire_after_s")
    del _timing

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GeminiEmulator:
        # A short poll interval makes stop() quick, which matters for tests that start many.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="gemini-emulator", daemon=True)
        self._thread.start()
        return self

    def hold_status(self, held: bool = True) -> None:
        """Hold every batch status call (GET of a batch) from now on until
        ``hold_status(False)``; the calls held then answer normally, with the job's state
        at that moment. Holds add to ``Faults.hold_status_s``."""
        if held:
            self._status_released.clear()
        else:
            self._status_released.set()

    def before_status(self) -> None:
        """Called by the HTTP handler before it answers a status call: waits out the holds."""
        seconds = self.faults.hold_status_s
        if self._status_released.is_set() and seconds <= 0:
            return
        with self._held_lock:
            self.held_status_calls += 1
        self._status_released.wait()
        if seconds > 0:
            self._stopping.wait(seconds)

    def stop(self) -> None:
        self._stopping.set()
        self._status_released.set()  # held calls answer, so their threads end
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join()

    def serve_forever(self) -> None:
        """Serve in the calling thread (the command line entry point)."""
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    def __enter__(self) -> GeminiEmulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def job_records(self) -> list[JobRecord]:
        """Every job the emulator holds, oldest first, with every request key it received
        (read-only; tests count jobs and duplicate submissions with it)."""
        return self.jobs.records()

    def count_tokens(self, body: dict) -> dict:
        request = body.get("generateContentRequest") or body
        _, usage = offline_extractor.answer(request)
        return {"totalTokens": usage["promptTokenCount"]}


def main(argv: list[str] | None = None) -> None:
    """Run in the foreground; the first stdout line is the base URL."""
    parser = argparse.ArgumentParser(description="Offline Gemini Batch API emulator (not a model).")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--state-dir", default=None)
    parser.add_argument("--pending-s", type=float, default=0.0)
    parser.add_argument("--running-s", type=float, default=0.0)
    args = parser.parse_args(argv)
    emulator = GeminiEmulator(port=args.port, state_dir=args.state_dir,
                              pending_s=args.pending_s, running_s=args.running_s)
    print(emulator.base_url, flush=True)
    try:
        emulator.serve_forever()
    except KeyboardInterrupt:
        pass
