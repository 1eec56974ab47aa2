"""An OFFLINE emulator of the Gemini Batch API and Files API, for tests and offline runs.

It speaks the wire protocol of /work/shared/docs/GEMINI_BATCH_PROTOCOL.md closely enough
that the unmodified google-genai SDK works against it:

    client = genai.Client(api_key="any", http_options=types.HttpOptions(
        base_url=emulator.base_url, api_version="v1beta"))

Answers come from offline_extractor (a lexicon matcher, not a model) and carry the
modelVersion "polymath-offline-emulator". Job states advance lazily from the creation
time, so nothing runs in the background. Faults (broken JSON, per-request errors, failed,
expired or cancelled jobs, 429s on create, shuffled output) are injected on demand to
exercise the client's recovery paths.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import re
import secrets
import shutil
import string
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from polymath_assets.gemini import offline_extractor

MODEL_VERSION = "polymath-offline-emulator"
FAULTS_ENV = "POLYMATH_EMULATOR_FAULTS"
PUBLIC_FILES_URL = "https://generativelanguage.googleapis.com/v1beta/files/"
BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
OUTPUT_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"}
QUOTA_MESSAGE = "Enqueued token quota exceeded for model. Please retry later."
REQUEST_ERRORS = {"internal_error": (13, "Internal error encountered."),
                  "quota_error": (8, "Resource has been exhausted (e.g. check quota).")}
_ID_CHARS = string.ascii_lowercase + string.digits


@dataclass
class Faults:
    """What goes wrong, and how often. Shares are fractions of requests; the *_jobs and
    rate_limit_creates counts are consumed by the next jobs / create calls."""

    malformed_json_share: float = 0.0
    request_error_share: float = 0.0
    max_tokens_share: float = 0.0
    empty_share: float = 0.0
    fail_jobs: int = 0
    expire_jobs: int = 0
    cancel_jobs: int = 0
    rate_limit_creates: int = 0
    shuffle_output: bool = False
    bad_output_keys: set[str] = field(default_factory=set)
    reject_mime_types: set[str] = field(default_factory=set)  # uploads of these fail: "Unsupported MIME type"
    seed: int = 0

    @classmethod
    def from_env(cls) -> Faults:
        """Faults from POLYMATH_EMULATOR_FAULTS (JSON of the fields), for a separate process."""
        values = json.loads(os.environ.get(FAULTS_ENV) or "{}")
        for name in ("bad_output_keys", "reject_mime_types"):
            values[name] = set(values.get(name, ()))
        return cls(**values)

    def request_fault(self, job_seq: int, key: str) -> str | None:
        """The fault for one request of one job, fixed by (seed, job ordinal, key): the same
        job always fails the same requests, while a resubmission in a later job draws anew.
        The shares are consecutive bands of one uniform draw; errors split into INTERNAL
        (13) and RESOURCE_EXHAUSTED (8) halves."""
        if key in self.bad_output_keys:
            return "malformed"
        draw = _unit(str(self.seed), str(job_seq), key)
        half_errors = self.request_error_share / 2
        for fault, share in (("malformed", self.malformed_json_share), ("internal_error", half_errors),
                             ("quota_error", half_errors), ("max_tokens", self.max_tokens_share),
                             ("empty", self.empty_share)):
            if draw < share:
                return fault
            draw -= share
        return None

    def take_job_outcome(self) -> str | None:
        """The forced end state for a job being created (consumes one count)."""
        for attr, outcome in (("fail_jobs", "FAILED"), ("expire_jobs", "EXPIRED"), ("cancel_jobs", "CANCELLED")):
            if getattr(self, attr) > 0:
                setattr(self, attr, getattr(self, attr) - 1)
                return outcome
        return None


def _unit(*parts: str) -> float:
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _new_id(length: int) -> str:
    return "".join(secrets.choice(_ID_CHARS) for _ in range(length))


class ApiError(Exception):
    """An error reply in Google's JSON error format."""

    def __init__(self, code: int, status: str, message: str):
        super().__init__(message)
        self.code, self.status, self.message = code, status, message

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


@dataclass
class StoredFile:
    name: str  # "files/<id>"
    path: Path
    mime_type: str
    display_name: str
    size: int
    sha256: bytes
    created: float
    source: str  # UPLOADED or GENERATED

    def resource(self) -> dict:
        file_id = self.name.removeprefix("files/")
        body = {
            "name": self.name, "displayName": self.display_name, "mimeType": self.mime_type,
            "sizeBytes": str(self.size), "createTime": _timestamp(self.created),
            "updateTime": _timestamp(self.created), "expirationTime": _timestamp(self.created + 48 * 3600),
            "sha256Hash": base64.b64encode(self.sha256).decode(),
            # The SDK only strips the https form of a uri back to a file name.
            "uri": PUBLIC_FILES_URL + file_id, "state": "ACTIVE", "source": self.source,
        }
        if self.source == "GENERATED":
            body["downloadUri"] = PUBLIC_FILES_URL.replace("/v1beta/", "/download/v1beta/") + f"{file_id}:download?alt=media"
        return body


@dataclass
class Job:
    name: str
    seq: int  # creation ordinal, part of the fault hash so retries can succeed
    model: str
    display_name: str
    input_config: dict
    created: float
    running_at: float
    finish_at: float
    expire_at: float
    request_count: int
    forced_outcome: str | None
    state: str = "PENDING"
    updated: float = 0.0
    ended: float | None = None
    stats: dict = field(default_factory=dict)
    output: dict | None = None
    error: dict | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class GeminiEmulator:
    """The emulator: file and job tables, the lazy job clock, and an HTTP server thread."""

    def __init__(self, port: int = 0, state_dir: str | Path | None = None, faults: Faults | None = None,
                 pending_s: float = 0.0, running_s: float = 0.0, expire_after_s: float = 48 * 3600,
                 clock: Callable[[], float] = time.time):
        self.faults = faults if faults is not None else Faults.from_env()
        self.pending_s, self.running_s, self.expire_after_s = pending_s, running_s, expire_after_s
        self.clock = clock
        self.state_dir = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="gemini-emulator-"))
        (self.state_dir / "files").mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # guards the tables, the job ordinal and the fault counts
        self._files: dict[str, StoredFile] = {}
        self._uploads: dict[str, dict] = {}
        self._jobs: dict[str, Job] = {}
        self._job_seq = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self._server.emulator = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

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

    def stop(self) -> None:
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

    # --- files -------------------------------------------------------------------------

    def start_upload(self, version: str, headers, body: dict) -> str:
        meta = body.get("file") or {}
        upload_id = _new_id(24)
        with self._lock:
            self._uploads[upload_id] = {
                "display_name": meta.get("display_name") or meta.get("displayName") or "",
                "mime_type": headers.get("X-Goog-Upload-Header-Content-Type") or meta.get("mime_type")
                or meta.get("mimeType") or "application/octet-stream",
                "path": self.state_dir / "files" / f"upload-{upload_id}", "received": 0,
            }
        return f"{self.base_url}/upload/{version}/files?upload_id={upload_id}"

    def upload_chunk(self, upload_id: str, offset: int, data: bytes, finalize: bool) -> dict | None:
        with self._lock:
            upload = self._uploads.get(upload_id)
        if upload is None:
            raise ApiError(404, "NOT_FOUND", f"Unknown upload {upload_id}.")
        if offset != upload["received"]:
            raise ApiError(400, "INVALID_ARGUMENT", f"Offset {offset} != {upload['received']} bytes received.")
        with open(upload["path"], "ab") as sink:
            sink.write(data)
        upload["received"] += len(data)
        if not finalize:
            return None
        if upload["mime_type"] in self.faults.reject_mime_types:
            raise ApiError(400, "INVALID_ARGUMENT", f"Unsupported MIME type: {upload['mime_type']}")
        file_id = _new_id(12)
        path = upload["path"].rename(self.state_dir / "files" / file_id)
        stored = self._store(f"files/{file_id}", path, upload["mime_type"], upload["display_name"], "UPLOADED")
        with self._lock:
            del self._uploads[upload_id]
        return {"file": stored.resource()}

    def _store(self, name: str, path: Path, mime_type: str, display_name: str, source: str) -> StoredFile:
        digest = hashlib.sha256()
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        stored = StoredFile(name, path, mime_type, display_name, path.stat().st_size, digest.digest(),
                            self.clock(), source)
        with self._lock:
            self._files[name] = stored
        return stored

    def file(self, file_id: str) -> StoredFile:
        with self._lock:
            stored = self._files.get(f"files/{file_id}")
        if stored is None:
            raise ApiError(404, "NOT_FOUND", f"File files/{file_id} does not exist.")
        return stored

    def delete_file(self, file_id: str) -> None:
        stored = self.file(file_id)
        with self._lock:
            self._files.pop(stored.name, None)
        stored.path.unlink(missing_ok=True)

    def list_files(self, page_size: int, token: str) -> dict:
        with self._lock:
            files = sorted(self._files.values(), key=lambda f: f.created, reverse=True)
        page, next_token = _page(files, page_size, token)
        return {"files": [f.resource() for f in page], **next_token}

    # --- jobs --------------------------------------------------------------------------

    def create_job(self, model: str, batch: dict) -> dict:
        input_config = batch.get("inputConfig") or batch.get("input_config") or {}
        count = self._count_requests(input_config)
        now = self.clock()
        with self._lock:
            if self.faults.rate_limit_creates > 0:
                self.faults.rate_limit_creates -= 1
                raise ApiError(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")
            self._job_seq += 1
            job = Job(name=f"batches/{_new_id(36)}", seq=self._job_seq, model=f"models/{model}",
                      display_name=batch.get("displayName") or batch.get("display_name") or "",
                      input_config=input_config, created=now, running_at=now + self.pending_s,
                      finish_at=now + self.pending_s + self.running_s, expire_at=now + self.expire_after_s,
                      request_count=count, forced_outcome=self.faults.take_job_outcome(), updated=now)
            self._jobs[job.name] = job
        return self.operation(job.name)

    def _count_requests(self, input_config: dict) -> int:
        file_name = input_config.get("fileName") or input_config.get("file_name")
        if file_name:
            with open(self.file(file_name.removeprefix("files/")).path, "rb") as stream:
                return sum(1 for line in stream if line.strip())
        requests = _inline_requests(input_config)
        if not requests:
            raise ApiError(400, "INVALID_ARGUMENT", "inputConfig needs fileName or requests.")
        return len(requests)

    def job(self, name: str) -> Job:
        with self._lock:
            job = self._jobs.get(name)
        if job is None:
            raise ApiError(404, "NOT_FOUND", f"Batch {name} does not exist.")
        return job

    def operation(self, name: str) -> dict:
        job = self.job(name)
        with job.lock:
            self._advance(job)
            return _operation(job)

    def list_jobs(self, page_size: int, token: str) -> dict:
        with self._lock:
            names = [job.name for job in sorted(self._jobs.values(), key=lambda j: j.seq, reverse=True)]
        page, next_token = _page(names, page_size, token)
        return {"operations": [self.operation(name) for name in page], **next_token}

    def cancel_job(self, name: str) -> None:
        job = self.job(name)
        with job.lock:
            self._advance(job)
            if job.state not in TERMINAL:
                self._end(job, "CANCELLED", self.clock())

    def delete_job(self, name: str) -> None:
        self.job(name)
        with self._lock:
            self._jobs.pop(name, None)

    def _advance(self, job: Job) -> None:
        """Bring the job to the state its age implies (caller holds job.lock)."""
        if job.state in TERMINAL:
            return
        now = self.clock()
        if now >= job.expire_at and job.finish_at > job.expire_at:
            self._end(job, "EXPIRED", job.expire_at)
        elif now >= job.finish_at:
            self._finish(job)
        elif now >= job.running_at and job.state == "PENDING":
            job.state, job.updated = "RUNNING", job.running_at

    def _end(self, job: Job, state: str, at: float) -> None:
        job.state, job.updated, job.ended = state, at, at

    def _finish(self, job: Job) -> None:
        if job.forced_outcome == "FAILED":
            job.error = {"code": 8, "message": QUOTA_MESSAGE}
        elif job.forced_outcome is None:
            try:
                job.output, job.stats = self._run(job)
            except (FileNotFoundError, ApiError):  # the input file was deleted meanwhile
                job.error = {"code": 5, "message": "The input file no longer exists."}
        outcome = job.forced_outcome or ("FAILED" if job.error else "SUCCEEDED")
        self._end(job, outcome, job.finish_at)

    def _run(self, job: Job) -> tuple[dict, dict]:
        """Answer every request; returns metadata.output and the success/failure counts."""
        faults, stats = self.faults, {"successful": 0, "failed": 0}

        def answer(key: str, request: dict) -> dict:
            result = _answer(request, faults.request_fault(job.seq, key))
            stats["failed" if "error" in result else "successful"] += 1
            return result

        file_name = job.input_config.get("fileName") or job.input_config.get("file_name")
        if file_name:
            out_name = f"files/batch-{job.name.removeprefix('batches/')}"
            path = self.state_dir / "files" / out_name.removeprefix("files/")
            _answer_file(self.file(file_name.removeprefix("files/")).path, path, answer)
            if faults.shuffle_output:
                _shuffle_lines(path, random.Random(f"{faults.seed}:{job.seq}"))
            self._store(out_name, path, "application/jsonl", out_name, "GENERATED")
            return {"responsesFile": out_name}, stats
        inlined = []
        for index, item in enumerate(_inline_requests(job.input_config)):
            metadata = item.get("metadata") or {}
            result = answer(str(metadata.get("key", index)), item.get("request") or {})
            inlined.append({**result, "metadata": metadata} if metadata else result)
        if faults.shuffle_output:
            random.Random(f"{faults.seed}:{job.seq}").shuffle(inlined)
        return {"inlinedResponses": {"inlinedResponses": inlined}}, stats

    def count_tokens(self, body: dict) -> dict:
        request = body.get("generateContentRequest") or body
        _, usage = offline_extractor.answer(request)
        return {"totalTokens": usage["promptTokenCount"]}


def _inline_requests(input_config: dict) -> list[dict]:
    return ((input_config.get("requests") or {}).get("requests")) or []


def _answer(request: dict, fault: str | None) -> dict:
    """One response (or error) body, with the fault applied."""
    if fault in REQUEST_ERRORS:
        code, message = REQUEST_ERRORS[fault]
        return {"error": {"code": code, "message": message}}
    text, usage = offline_extractor.answer(request)
    finish = "STOP"
    if fault in ("malformed", "max_tokens"):
        text = text[: max(1, len(text) // 2)]  # half a JSON document does not parse
        finish = "MAX_TOKENS" if fault == "max_tokens" else "STOP"
    candidates = [{"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": finish, "index": 0}]
    # "empty": the model returned no candidate at all (seen with SAFETY and under load).
    response = {} if fault == "empty" else {"candidates": candidates}
    return {"response": {**response, "usageMetadata": usage, "modelVersion": MODEL_VERSION}}


def _answer_file(source: Path, target: Path, answer: Callable[[str, dict], dict]) -> None:
    """Stream the input JSONL into the output JSONL, one line per non-blank input line."""
    with open(source, encoding="utf-8") as lines, open(target, "w", encoding="utf-8") as out:
        for line in lines:
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                result = {"error": {"code": 3, "message": "Invalid JSON in the input line."}}
            else:
                key = str(item.get("key", ""))
                result = {"key": key, **answer(key, item.get("request") or {})}
            out.write(json.dumps(result, ensure_ascii=False) + "\n")


def _shuffle_lines(path: Path, rng: random.Random) -> None:
    """Reorder a file's lines holding only their offsets in memory."""
    offsets, position = [], 0
    with open(path, "rb") as stream:
        for line in stream:
            offsets.append(position)
            position += len(line)
    rng.shuffle(offsets)
    shuffled = path.with_suffix(".shuffled")
    with open(path, "rb") as stream, open(shuffled, "wb") as out:
        for offset in offsets:
            stream.seek(offset)
            out.write(stream.readline())
    shuffled.replace(path)


def _page(items: list, page_size: int, token: str) -> tuple[list, dict]:
    start = int(token or 0)
    end = start + (page_size if page_size > 0 else 50)
    return items[start:end], ({"nextPageToken": str(end)} if end < len(items) else {})


def _operation(job: Job) -> dict:
    stats = {"requestCount": job.request_count,
             "successfulRequestCount": job.stats.get("successful", 0),
             "failedRequestCount": job.stats.get("failed", 0),
             "pendingRequestCount": 0 if job.state in TERMINAL else job.request_count}
    metadata = {
        "@type": BATCH_TYPE, "model": job.model, "displayName": job.display_name,
        "inputConfig": job.input_config, "createTime": _timestamp(job.created),
        "updateTime": _timestamp(job.updated),
        # int64 counters travel as JSON strings and zero counters are left out.
        "batchStats": {name: str(value) for name, value in stats.items() if value},
        "state": f"BATCH_STATE_{job.state}",
    }
    if job.state == "SUCCEEDED":
        metadata["output"] = job.output
    operation = {"name": job.name, "metadata": metadata}
    if job.ended is not None:
        metadata["endTime"] = _timestamp(job.ended)
        operation["done"] = True
        if job.error is not None:  # an Operation carries either an error or a response
            operation["error"] = job.error
        else:
            operation["response"] = {"@type": OUTPUT_TYPE, **(job.output or {})}
    return operation


_VERSION = r"(?P<v>v1|v1beta)"
_ROUTES: list[tuple[str, re.Pattern, str]] = [(method, re.compile(pattern + r"$"), action) for method, pattern, action in [
    ("POST", rf"/upload/{_VERSION}/files", "upload"),
    ("GET", rf"(?:/download)?/{_VERSION}/files/(?P<id>[^/:]+):download", "download"),
    ("GET", rf"/{_VERSION}/files", "list_files"),
    ("GET", rf"/{_VERSION}/files/(?P<id>[^/:]+)", "get_file"),
    ("DELETE", rf"/{_VERSION}/files/(?P<id>[^/:]+)", "delete_file"),
    ("POST", rf"/{_VERSION}/models/(?P<model>[^/:]+):batchGenerateContent", "create_job"),
    ("POST", rf"/{_VERSION}/models/(?P<model>[^/:]+):countTokens", "count_tokens"),
    ("GET", rf"/{_VERSION}/batches", "list_jobs"),
    ("GET", rf"/{_VERSION}/batches/(?P<id>[^/:]+)", "get_job"),
    ("POST", rf"/{_VERSION}/batches/(?P<id>[^/:]+):cancel", "cancel_job"),
    ("DELETE", rf"/{_VERSION}/batches/(?P<id>[^/:]+)", "delete_job"),
]]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, *args) -> None:  # the SDK polls a lot; keep test output clean
        pass

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        self.query = {name: values[0] for name, values in parse_qs(url.query).items()}
        self.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.upload_headers: dict[str, str] = {}
        try:
            for route_method, pattern, action in _ROUTES:
                match = pattern.match(url.path)
                if match and route_method == method:
                    # Upload chunk URLs carry their own id in place of the API key.
                    if not (action == "upload" and "upload_id" in self.query) and not self.headers.get("x-goog-api-key"):
                        raise ApiError(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers.")
                    body = getattr(self, action)(**match.groupdict())
                    return None if body is None else self._reply(200, body)
            raise ApiError(404, "NOT_FOUND", f"No route for {method} {url.path}.")
        except ApiError as error:
            self._reply(error.code, error.body())
        except Exception as error:  # a bug here must still answer, or the client hangs on keep-alive
            self._reply(500, ApiError(500, "INTERNAL", repr(error)).body())

    @property
    def emulator(self) -> GeminiEmulator:
        return self.server.emulator  # type: ignore[attr-defined]

    def _json(self) -> dict:
        try:
            return json.loads(self.body or b"{}")
        except json.JSONDecodeError as error:
            raise ApiError(400, "INVALID_ARGUMENT", f"Invalid JSON payload: {error}.") from None

    def _reply(self, code: int, body: dict | None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(code)
        for name, value in {**self.upload_headers, **(headers or {})}.items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def upload(self, v: str) -> None:
        upload_id = self.query.get("upload_id")
        if upload_id is None:
            url = self.emulator.start_upload(v, self.headers, self._json())
            return self._reply(200, None, {"x-goog-upload-url": url, "x-goog-upload-status": "active"})
        command = self.headers.get("X-Goog-Upload-Command", "")
        # Every chunk reply carries a status, or the SDK re-sends with sleeps; errors end it.
        self.upload_headers = {"x-goog-upload-status": "final"}
        body = self.emulator.upload_chunk(upload_id, int(self.headers.get("X-Goog-Upload-Offset") or 0),
                                          self.body, "finalize" in command)
        self.upload_headers = {"x-goog-upload-status": "final" if body else "active"}
        self._reply(200, body)

    def download(self, v: str, id: str) -> None:
        stored = self.emulator.file(id)
        if stored.source != "GENERATED":
            raise ApiError(400, "INVALID_ARGUMENT", "Only generated files can be downloaded.")
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(stored.path.stat().st_size))
        self.end_headers()
        with open(stored.path, "rb") as stream:  # streamed: result files can be large
            shutil.copyfileobj(stream, self.wfile)

    def _paging(self) -> tuple[int, str]:
        return int(self.query.get("pageSize", 0)), self.query.get("pageToken", "")

    # The actions below return the JSON body of a 200 reply.
    def list_files(self, v: str) -> dict:
        return self.emulator.list_files(*self._paging())

    def get_file(self, v: str, id: str) -> dict:
        return self.emulator.file(id).resource()

    def delete_file(self, v: str, id: str) -> dict:
        self.emulator.delete_file(id)
        return {}

    def create_job(self, v: str, model: str) -> dict:
        return self.emulator.create_job(model, self._json().get("batch") or {})

    def count_tokens(self, v: str, model: str) -> dict:
        return self.emulator.count_tokens(self._json())

    def list_jobs(self, v: str) -> dict:
        return self.emulator.list_jobs(*self._paging())

    def get_job(self, v: str, id: str) -> dict:
        return self.emulator.operation(f"batches/{id}")

    def cancel_job(self, v: str, id: str) -> dict:
        self.emulator.cancel_job(f"batches/{id}")
        return {}

    def delete_job(self, v: str, id: str) -> dict:
        self.emulator.delete_job(f"batches/{id}")
        return {}


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


if __name__ == "__main__":
    main()
