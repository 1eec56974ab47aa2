"""The Gemini Batch client, over the official ``google-genai`` SDK.

The same code talks to the real API and to the offline emulator (``base_url``). What the
SDK hides — ``batchStats``, the job's error and its input file — is read from the raw
Operation. The SDK's own retries are switched on for 408/429/5xx, dropped connections and
timeouts with exponential back-off, for every call except batch creation: creation is not
idempotent, and a retried create whose first reply was lost makes a second job that bills
the same work twice.

Every call has a deadline (``timeout_s``, POLYMATH_GEMINI_TIMEOUT_S): without one the SDK
waits forever for a reply that never comes. ``call_budget`` splits it into attempts whose
worst case — each attempt timing out, each back-off wait at its longest — fits inside it,
so a call without an answer fails within its deadline, saying what timed out after how
long (``ProviderTimeout``). A job listing's pages share one deadline; a creation's
attempts each have theirs, and its errors name the attempt. A caller with a nearer deadline
of its own (a sensor tick) passes ``timeout_s`` to ``status``. File transfers are bounded per chunk: a request file's
upload or a result's download fails when no byte moves for one attempt's time.
After an ambiguous create failure (connection lost, timeout, 5xx) the job is looked up by
its unique display name and input file first; one found is adopted, extras cancelled.
The API key is passed to the SDK and never logged or returned.

Private SDK paths in use: ``Client._api_client.request`` (raw Operation and raw listing).
``google-genai`` is pinned to the tested minor version in pyproject.toml for that reason.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from google import genai
from google.genai import errors, types

from polymath_assets.progress import progress_bar

RETRYABLE_STATUS = [408, 429, 500, 502, 503, 504]
DEFAULT_TIMEOUT_S = 120.0  # POLYMATH_GEMINI_TIMEOUT_S's default
# The SDK's back-off (tenacity's wait_exponential_jitter): before retry k it waits
# min(INITIAL x 2^(k-1) + uniform(0, JITTER), MAX); the budget counts the longest case.
RETRY_INITIAL_S, RETRY_JITTER_S, RETRY_MAX_WAIT_S = 1.0, 1.0, 30.0
MIN_ATTEMPT_S = 2.0  # rather fewer attempts than attempts too short to get an answer
# The batch docs say "jsonl"; the Files API has rejected it intermittently with
# "Unsupported MIME type" (python-genai #1547, cookbook #1008), and users fall back to
# text/plain, which keeps the bytes as they are. Try in this order.
JSONL_MIME_TYPES = ("jsonl", "text/plain")

_STATES = {
    "BATCH_STATE_PENDING": "pending", "JOB_STATE_PENDING": "pending", "JOB_STATE_QUEUED": "pending",
    "BATCH_STATE_RUNNING": "running", "JOB_STATE_RUNNING": "running",
    "BATCH_STATE_SUCCEEDED": "succeeded", "JOB_STATE_SUCCEEDED": "succeeded",
    "BATCH_STATE_FAILED": "failed", "JOB_STATE_FAILED": "failed",
    "BATCH_STATE_CANCELLED": "cancelled", "JOB_STATE_CANCELLED": "cancelled",
    "BATCH_STATE_EXPIRED": "expired", "JOB_STATE_EXPIRED": "expired",
}
TERMINAL = {"succeeded", "failed", "cancelled", "expired"}
# Batch creation: one attempt per call (the SDK's retry would duplicate a job whose reply
# was lost), given the whole deadline, so a hung create becomes an ambiguous failure we can settle.
CREATE_ATTEMPTS = 3
LIST_PAGES_MAX = 10  # jobs are listed newest first: an orphan from seconds ago is on page 1


def _http_errors(name: str) -> tuple[type[Exception], ...]:
    """An error class of the HTTP library. SDK 3.4 sends with httpx2, older versions with
    httpx: whichever is installed."""
    import importlib

    found = []
    for module in ("httpx2", "httpx"):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            pass
    return tuple(found)


TRANSPORT_ERRORS = _http_errors("TransportError")  # no reply: dropped connection, timeout
TIMEOUT_ERRORS = _http_errors("TimeoutException")


@dataclass(frozen=True)
class CallBudget:
    """How one call spends its deadline: ``attempts`` tries of at most ``attempt_s`` each
    (the HTTP timeout: connecting, or waiting for the next byte), with back-off waits
    between them; the worst case fits in ``total_s``."""

    total_s: float
    attempts: int
    attempt_s: float

    def http_options(self, **options) -> types.HttpOptions:
        return types.HttpOptions(
            timeout=max(1, int(self.attempt_s * 1000)),
            retry_options=types.HttpRetryOptions(
                attempts=self.attempts, initial_delay=RETRY_INITIAL_S, max_delay=RETRY_MAX_WAIT_S,
                exp_base=2.0, jitter=RETRY_JITTER_S, http_status_codes=RETRYABLE_STATUS),
            **options)

    def describe(self) -> str:
        if self.attempts == 1:
            return f"{self.total_s:g} s (one attempt)"
        return f"{self.total_s:g} s ({self.attempts} attempts of at most {self.attempt_s:.1f} s, with back-off)"


def worst_wait_s(retry: int) -> float:
    """The longest back-off the SDK waits before its ``retry``-th retry."""
    return min(RETRY_INITIAL_S * 2 ** (retry - 1) + RETRY_JITTER_S, RETRY_MAX_WAIT_S)


def call_budget(total_s: float, attempts: int) -> CallBudget:
    """Pure: the most attempts (up to ``attempts``) that leave each at least MIN_ATTEMPT_S
    (or the whole deadline, if shorter) once the longest back-off waits are taken out."""
    if total_s <= 0:
        raise ValueError(f"a call's deadline must be positive, not {total_s:g} s")
    for n in range(max(1, attempts), 1, -1):
        share = (total_s - sum(worst_wait_s(k) for k in range(1, n))) / n
        if share >= min(MIN_ATTEMPT_S, total_s):
            return CallBudget(total_s, n, share)
    return CallBudget(total_s, 1, total_s)


class ProviderError(RuntimeError):
    """The provider refused or failed a call after the SDK's retries; says what to do."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code

    @property
    def ambiguous(self) -> bool:
        """The call may have taken effect: no reply (code None), a timeout or a 5xx."""
        return self.code is None or self.code == 408 or self.code >= 500


class ProviderTimeout(ProviderError):
    """No reply within the call's deadline; the message says how long it waited."""

    def __init__(self, message: str):
        super().__init__(message, None)


@dataclass(frozen=True)
class JobStatus:
    state: str                 # pending | running | succeeded | failed | cancelled | expired
    request_count: int
    succeeded_count: int
    failed_count: int
    output_file: str | None
    error: str | None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL


def job_status_from_operation(operation: dict) -> JobStatus:
    """Pure: the raw Operation JSON of a batch → JobStatus."""
    metadata = operation.get("metadata") or {}
    stats = metadata.get("batchStats") or {}
    output = metadata.get("output") or operation.get("response") or {}
    error = operation.get("error")
    raw_state = metadata.get("state", "BATCH_STATE_PENDING")
    return JobStatus(
        state=_STATES.get(raw_state, "pending"),
        request_count=int(stats.get("requestCount", 0)),
        succeeded_count=int(stats.get("successfulRequestCount", 0)),
        failed_count=int(stats.get("failedRequestCount", 0)),
        output_file=output.get("responsesFile"),
        error=f"{error.get('code')}: {error.get('message', '')}" if error else None,
    )


class BatchClient:
    def __init__(self, api_key: str, *, base_url: str | None = None, provider: str = "gemini",
                 retry_attempts: int = 5, timeout_s: float = DEFAULT_TIMEOUT_S):
        if not api_key:
            raise ProviderError(
                "no Gemini API key: set GEMINI_API_KEY (or GOOGLE_API_KEY), "
                "or run with --offline / POLYMATH_OFFLINE=1 to use the offline emulator")
        self.provider = provider
        self.retry_attempts = retry_attempts
        self.budget = call_budget(timeout_s, retry_attempts)
        # The batch API's documented version; the SDK defaults to v1.
        options = self.budget.http_options(base_url=base_url, api_version="v1beta")
        self._client = genai.Client(api_key=api_key, http_options=options)

    def _call(self, what: str, budget: CallBudget | None = None) -> "_explained":
        return _explained(what, (budget or self.budget).describe())

    def upload(self, path: Path, display_name: str) -> str:
        # The SDK reports no bytes as it goes: the bar shows the size and the time taken.
        size = path.stat().st_size
        with progress_bar(total=size, desc=f"upload {path.name}", unit="B", unit_scale=True) as bar:
            name = self._upload(path, display_name)
            bar.update(size)
        return name

    def _upload(self, path: Path, display_name: str) -> str:
        for mime_type in JSONL_MIME_TYPES:
            try:
                with self._call("upload of the request file"):
                    uploaded = self._client.files.upload(
                        file=str(path), config=types.UploadFileConfig(mime_type=mime_type, display_name=display_name))
                return uploaded.name
            except ProviderError as err:
                if "Unsupported MIME type" not in str(err.__cause__) or mime_type == JSONL_MIME_TYPES[-1]:
                    raise
        raise AssertionError("unreachable")

    def create(self, model: str, file_name: str, display_name: str, *, backoff_s: float = 1.0) -> str:
        """Create the job exactly once. A definite refusal (4xx) raises at once — nothing was
        created. An ambiguous failure looks the job up before trying again: found, it is
        adopted; not found, creation is tried again (at most CREATE_ATTEMPTS times). Each
        attempt and each lookup has its own deadline; an error after the first attempt
        names the attempt and the time since the first began."""
        started = time.monotonic()
        once = CallBudget(self.budget.total_s, 1, self.budget.total_s)
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            what = "batch creation" if attempt == 1 else (
                f"batch creation (attempt {attempt} of {CREATE_ATTEMPTS}, "
                f"{time.monotonic() - started:.0f} s after the first began)")
            try:
                with self._call(what, once):
                    job = self._client.batches.create(model=model, src=file_name, config=types.CreateBatchJobConfig(
                        display_name=display_name, http_options=once.http_options()))
                return job.name
            except ProviderError as err:
                if not err.ambiguous:
                    raise
                adopted = self.adopt(display_name, file_name)
                if adopted is not None:
                    return adopted
                if attempt == CREATE_ATTEMPTS:
                    raise
                time.sleep(backoff_s * attempt)
        raise AssertionError("unreachable")

    def adopt(self, display_name: str, file_name: str | None = None) -> str | None:
        """The job created for ``display_name`` (and ``file_name``), if the provider has one.
        Of several, the newest that can still deliver is kept and the others cancelled, so
        no orphan is left running to bill the same work twice."""
        found = self._jobs_named(display_name, file_name)
        usable = [name for name, state in found if state not in ("failed", "cancelled", "expired")]
        keep = usable[0] if usable else (found[0][0] if found else None)
        for name, state in found:
            if name != keep and state not in TERMINAL:
                self.cancel(name)
        return keep

    def status(self, job_name: str, *, timeout_s: float | None = None) -> JobStatus:
        """The job's state. ``timeout_s``: the caller's own deadline, if nearer than the
        client's (a sensor tick that must stop polling in time); retries fit inside it."""
        budget = self.budget
        if timeout_s is not None:
            if timeout_s <= 0:
                raise ProviderTimeout(f"status of {job_name} was not asked: the caller's deadline had passed")
            budget = call_budget(min(timeout_s, self.budget.total_s), self.retry_attempts)
        with self._call(f"status of {job_name}", budget):
            # The raw Operation: the SDK's BatchJob drops batchStats and the job error.
            response = self._client._api_client.request("get", job_name, {}, budget.http_options())
        return job_status_from_operation(json.loads(response.body or "{}"))

    def find_by_display_name(self, display_name: str) -> str | None:
        """A job created just before a crash: found by its unique display name."""
        found = self._jobs_named(display_name, None)
        return found[0][0] if found else None

    def _jobs_named(self, display_name: str, file_name: str | None) -> list[tuple[str, str]]:
        """(name, state) of the provider's jobs with this display name (and input file),
        newest first. Raw listing: the SDK's BatchJob drops the input file. Every page
        together fits in the client's deadline: each page's retries get what is left."""
        found, token = [], ""
        total_s = self.budget.total_s
        with _explained("listing batch jobs", f"{total_s:g} s for the whole listing") as call:
            for _ in range(LIST_PAGES_MAX):
                left_s = total_s - call.elapsed_s
                if left_s <= 0:
                    raise call.timed_out()
                query = "batches?pageSize=100" + (f"&pageToken={token}" if token else "")
                options = call_budget(left_s, self.retry_attempts).http_options()
                page = json.loads(self._client._api_client.request("get", query, {}, options).body or "{}")
                for operation in page.get("operations") or []:
                    metadata = operation.get("metadata") or {}
                    source = (metadata.get("inputConfig") or {}).get("fileName")
                    if metadata.get("displayName") == display_name and (file_name is None or source == file_name):
                        found.append((operation["name"], job_status_from_operation(operation).state))
                token = page.get("nextPageToken") or ""
                if not token:
                    break
        return found

    def download(self, file_name: str, destination: Path) -> None:
        partial = destination.with_suffix(destination.suffix + ".partial")
        with self._call(f"download of {file_name}"), progress_bar(desc=f"download {file_name}", unit="file") as bar:
            self._client.files.download(file=file_name, destination=str(partial))
            bar.update(1)
        partial.replace(destination)

    def cancel(self, job_name: str) -> None:
        with self._call(f"cancel of {job_name}"):
            self._client.batches.cancel(name=job_name)

    def count_tokens(self, model: str, request: dict) -> int:
        with self._call("countTokens"):
            result = self._client.models.count_tokens(model=model, contents=request["contents"])
        return int(result.total_tokens or 0)


class _explained:
    """Turn SDK errors into ProviderError with the operator's next step. ``limit`` says
    what deadline the block had (CallBudget.describe, or that of several calls)."""

    def __init__(self, what: str, limit: str):
        self.what, self.limit = what, limit

    def __enter__(self):
        self.started = time.monotonic()
        return self

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def timed_out(self) -> ProviderTimeout:
        return ProviderTimeout(
            f"{self.what} timed out after {self.elapsed_s:.1f} s: no reply within {self.limit}. The provider, or "
            "the network to it, is slow or down; nothing was lost: run again (a job in flight is polled again, "
            "never submitted twice). If replies are merely slow, raise POLYMATH_GEMINI_TIMEOUT_S.")

    def __exit__(self, exc_type, exc, tb):
        if exc is None or not isinstance(exc, (errors.APIError, OSError, *TRANSPORT_ERRORS)):
            return False
        if isinstance(exc, TIMEOUT_ERRORS):
            raise self.timed_out() from exc
        code = getattr(exc, "code", None) if isinstance(exc, errors.APIError) else None
        if code == 429:
            hint = "quota or rate limit (429 RESOURCE_EXHAUSTED): wait and run again; nothing was lost"
        elif code in (401, 403):
            hint = "the API key was refused: check GEMINI_API_KEY and that billing is enabled for batch"
        elif code is not None and code >= 500:
            hint = "the provider failed after retries: run again later; nothing was lost"
        elif code is None:
            hint = ("no reply from the provider (connection lost or timed out): check the network and "
                    "run again; a job created meanwhile is found by its name, not created twice")
        elif code == 404:
            hint = "the provider does not know it (deleted, or older than its retention)"
        else:
            hint = "run again; if it persists, check the request file and the provider's status"
        raise ProviderError(f"{self.what} failed ({type(exc).__name__} {code or ''}): {hint}", code) from exc
