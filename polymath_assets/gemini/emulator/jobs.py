"""The emulator's batch jobs: creation, the lazy state machine, and the answers.

States advance from the creation time when a job is read (PENDING → RUNNING → a terminal
state), so nothing runs in the background. Answers come from offline_extractor (a lexicon
matcher, not a model)."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from polymath_assets.gemini import offline_extractor
from polymath_assets.gemini.emulator.faults import Faults
from polymath_assets.gemini.emulator.store import ApiError, FileStore, new_id, page, timestamp

MODEL_VERSION = "polymath-offline-emulator"
BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
OUTPUT_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"}
REQUEST_ERRORS = {"internal_error": (13, "Internal error encountered."),
                  "quota_error": (8, "Resource has been exhausted (e.g. check quota).")}


class ReplyLost(Exception):
    """The job was created but its reply must not arrive (the ambiguous-create fault)."""

    def __init__(self, mode: str, operation: dict):
        super().__init__(mode)
        self.mode, self.operation = mode, operation


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
    request_keys: tuple[str, ...]
    forced_outcome: tuple[str, dict | None] | None
    state: str = "PENDING"
    updated: float = 0.0
    ended: float | None = None
    stats: dict = field(default_factory=dict)
    output: dict | None = None
    error: dict | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class JobRecord:
    """What the emulator holds about one job (read-only, for tests)."""

    name: str
    display_name: str
    state: str
    request_keys: tuple[str, ...]


class JobTable:
    def __init__(self, files: FileStore, faults: Callable[[], Faults], clock: Callable[[], float],
                 pending_s: float, running_s: float, expire_after_s: float):
        self.files, self.faults, self.clock = files, faults, clock
        self.pending_s, self.running_s, self.expire_after_s = pending_s, running_s, expire_after_s
        self._lock = threading.Lock()  # guards the table, the job ordinal and the fault counts
        self._jobs: dict[str, Job] = {}
        self._seq = 0

    def create(self, model: str, batch: dict) -> dict:
        input_config = batch.get("inputConfig") or batch.get("input_config") or {}
        keys = self._request_keys(input_config)
        now = self.clock()
        faults = self.faults()
        with self._lock:
            if faults.take_rate_limit():
                raise ApiError(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")
            self._seq += 1
            pending = max(self.pending_s, faults.hold_pending_s)
            job = Job(name=f"batches/{new_id(36)}", seq=self._seq, model=f"models/{model}",
                      display_name=batch.get("displayName") or batch.get("display_name") or "",
                      input_config=input_config, created=now, running_at=now + pending,
                      finish_at=now + pending + self.running_s, expire_at=now + self.expire_after_s,
                      request_count=len(keys), request_keys=keys, forced_outcome=faults.take_job_outcome(),
                      updated=now)
            self._jobs[job.name] = job
            lost = faults.take_ambiguous()
        operation = self.operation(job.name)
        if lost:
            raise ReplyLost(lost, operation)
        return operation

    def _request_keys(self, input_config: dict) -> tuple[str, ...]:
        file_name = input_config.get("fileName") or input_config.get("file_name")
        if file_name:
            path = self.files.get(file_name.removeprefix("files/")).path
            keys = []
            with open(path, encoding="utf-8") as stream:
                for index, line in enumerate(stream):
                    if line.strip():
                        try:
                            keys.append(str(json.loads(line).get("key", "")))
                        except (json.JSONDecodeError, AttributeError):
                            keys.append(f"<invalid line {index + 1}>")
            return tuple(keys)
        requests = _inline_requests(input_config)
        if not requests:
            raise ApiError(400, "INVALID_ARGUMENT", "inputConfig needs fileName or requests.")
        return tuple(str((item.get("metadata") or {}).get("key", i)) for i, item in enumerate(requests))

    def get(self, name: str) -> Job:
        with self._lock:
            job = self._jobs.get(name)
        if job is None:
            raise ApiError(404, "NOT_FOUND", f"Batch {name} does not exist.")
        return job

    def operation(self, name: str) -> dict:
        job = self.get(name)
        with job.lock:
            self._advance(job)
            return _operation(job)

    def list(self, page_size: int, token: str) -> dict:
        with self._lock:
            names = [job.name for job in sorted(self._jobs.values(), key=lambda j: j.seq, reverse=True)]
        found, next_token = page(names, page_size, token)
        return {"operations": [self.operation(name) for name in found], **next_token}

    def records(self) -> list[JobRecord]:
        with self._lock:
            jobs = sorted(self._jobs.values(), key=lambda j: j.seq)
        out = []
        for job in jobs:
            with job.lock:
                self._advance(job)
                out.append(JobRecord(job.name, job.display_name, job.state, job.request_keys))
        return out

    def cancel(self, name: str) -> None:
        job = self.get(name)
        with job.lock:
            self._advance(job)
            if job.state not in TERMINAL:
                _end(job, "CANCELLED", self.clock())

    def delete(self, name: str) -> None:
        self.get(name)
        with self._lock:
            self._jobs.pop(name, None)

    def _advance(self, job: Job) -> None:
        """Bring the job to the state its age implies (caller holds job.lock)."""
        if job.state in TERMINAL:
            return
        now = self.clock()
        if now >= job.expire_at and job.finish_at > job.expire_at:
            _end(job, "EXPIRED", job.expire_at)
        elif now >= job.finish_at:
            self._finish(job)
        elif now >= job.running_at and job.state == "PENDING":
            job.state, job.updated = "RUNNING", job.running_at

    def _finish(self, job: Job) -> None:
        outcome = None
        if job.forced_outcome is not None:
            outcome, job.error = job.forced_outcome
        else:
            try:
                job.output, job.stats = self._run(job)
            except (FileNotFoundError, ApiError):  # the input file was deleted meanwhile
                job.error = {"code": 5, "message": "The input file no longer exists."}
        _end(job, outcome or ("FAILED" if job.error else "SUCCEEDED"), job.finish_at)

    def _run(self, job: Job) -> tuple[dict, dict]:
        """Answer every request; returns metadata.output and the success/failure counts."""
        faults, stats = self.faults(), {"successful": 0, "failed": 0}

        def answer(key: str, request: dict) -> dict:
            result = _answer(request, faults.request_fault(job.seq, key), faults.unlocatable(job.seq, key))
            stats["failed" if "error" in result else "successful"] += 1
            return result

        file_name = job.input_config.get("fileName") or job.input_config.get("file_name")
        if file_name:
            out_name = f"files/batch-{job.name.removeprefix('batches/')}"
            path = self.files.path_for(out_name)
            _answer_file(self.files.get(file_name.removeprefix("files/")).path, path, answer)
            if faults.shuffle_output:
                _shuffle_lines(path, random.Random(f"{faults.seed}:{job.seq}"))
            self.files.store(out_name, path, "application/jsonl", out_name, "GENERATED")
            return {"responsesFile": out_name}, stats
        inlined = []
        for index, item in enumerate(_inline_requests(job.input_config)):
            metadata = item.get("metadata") or {}
            result = answer(str(metadata.get("key", index)), item.get("request") or {})
            inlined.append({**result, "metadata": metadata} if metadata else result)
        if faults.shuffle_output:
            random.Random(f"{faults.seed}:{job.seq}").shuffle(inlined)
        return {"inlinedResponses": {"inlinedResponses": inlined}}, stats


def _end(job: Job, state: str, at: float) -> None:
    job.state, job.updated, job.ended = state, at, at


def _inline_requests(input_config: dict) -> list[dict]:
    return ((input_config.get("requests") or {}).get("requests")) or []


def _answer(request: dict, fault: str | None, corrupted=None) -> dict:
    """One response (or error) body, with the fault applied."""
    if fault in REQUEST_ERRORS:
        code, message = REQUEST_ERRORS[fault]
        return {"error": {"code": code, "message": message}}
    text, usage = offline_extractor.answer(request, corrupted)
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


def _operation(job: Job) -> dict:
    stats = {"requestCount": job.request_count,
             "successfulRequestCount": job.stats.get("successful", 0),
             "failedRequestCount": job.stats.get("failed", 0),
             "pendingRequestCount": 0 if job.state in TERMINAL else job.request_count}
    metadata = {
        "@type": BATCH_TYPE, "model": job.model, "displayName": job.display_name,
        "inputConfig": job.input_config, "createTime": timestamp(job.created),
        "updateTime": timestamp(job.updated),
        # int64 counters travel as JSON strings and zero counters are left out.
        "batchStats": {name: str(value) for name, value in stats.items() if value},
        "state": f"BATCH_STATE_{job.state}",
    }
    if job.state == "SUCCEEDED":
        metadata["output"] = job.output
    operation = {"name": job.name, "metadata": metadata}
    if job.ended is not None:
        metadata["endTime"] = timestamp(job.ended)
        operation["done"] = True
        if job.error is not None:  # an Operation carries either an error or a response
            operation["error"] = job.error
        else:
            operation["response"] = {"@type": OUTPUT_TYPE, **(job.output or {})}
    return operation
