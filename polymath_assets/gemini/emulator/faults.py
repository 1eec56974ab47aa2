"""What goes wrong at the emulator, and how often: per-request faults drawn from a hash
(so the same job always fails the same requests), and per-job / per-create faults that
are counted down as jobs are created."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field

FAULTS_ENV = "POLYMATH_EMULATOR_FAULTS"
# The real job-level failure when a model's enqueued-token quota is full (protocol doc:
# job FAILED, error code 8 RESOURCE_EXHAUSTED, "Enqueued token quota exceeded").
QUOTA_ERROR = {"code": 8, "message": "Enqueued token quota exceeded for model. Please retry later."}
QUOTA_MESSAGE = QUOTA_ERROR["message"]
AMBIGUOUS_MODES = ("drop", "503", "timeout")


@dataclass
class Faults:
    """Shares are fractions of requests; the *_jobs, *_creates counts are consumed by the
    next jobs / create calls.

    ``ambiguous_creates``: the job IS created, but the reply is lost — the connection is
    dropped (``drop``), a 503 comes back (``503``), or the reply comes only after
    ``ambiguous_delay_s`` (``timeout``, for a client with a timeout). The caller cannot
    tell whether the job exists. ``quota_fail_jobs``: the job ends FAILED with the
    enqueued-token quota error. ``hold_pending_s``: every job stays PENDING at least this
    long (the stuck-PENDING reports of python-genai #1482). ``hold_status_s``: every batch
    status call (GET of a batch) is held this long before it is answered — a provider that
    stops answering polls (``GeminiEmulator.hold_status`` holds them until released)."""

    malformed_json_share: float = 0.0
    request_error_share: float = 0.0
    max_tokens_share: float = 0.0
    empty_share: float = 0.0
    unlocatable_share: float = 0.0  # of concepts: span or quotes rewritten so they cannot be located
    fail_jobs: int = 0
    quota_fail_jobs: int = 0
    expire_jobs: int = 0
    cancel_jobs: int = 0
    rate_limit_creates: int = 0
    ambiguous_creates: int = 0
    ambiguous_create_mode: str = "drop"
    ambiguous_delay_s: float = 5.0
    hold_pending_s: float = 0.0
    hold_status_s: float = 0.0
    shuffle_output: bool = False
    bad_output_keys: set[str] = field(default_factory=set)
    reject_mime_types: set[str] = field(default_factory=set)  # uploads of these fail: "Unsupported MIME type"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.ambiguous_create_mode not in AMBIGUOUS_MODES:
            raise ValueError(f"ambiguous_create_mode must be one of {AMBIGUOUS_MODES}")

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
        draw = unit(str(self.seed), str(job_seq), key)
        half_errors = self.request_error_share / 2
        for fault, share in (("malformed", self.malformed_json_share), ("internal_error", half_errors),
                             ("quota_error", half_errors), ("max_tokens", self.max_tokens_share),
                             ("empty", self.empty_share)):
            if draw < share:
                return fault
            draw -= share
        return None

    def unlocatable(self, job_seq: int, key: str):
        """Which concepts of one request's answer come back unlocatable: None, or a function
        of the concept's index, fixed by (seed, job ordinal, key, index)."""
        if self.unlocatable_share <= 0:
            return None
        return lambda index: unit(str(self.seed), str(job_seq), key, "unlocatable", str(index)) < self.unlocatable_share

    def take_job_outcome(self) -> tuple[str, dict | None] | None:
        """The forced end state (and error) for a job being created (consumes one count)."""
        for attr, outcome, error in (("fail_jobs", "FAILED", QUOTA_ERROR), ("quota_fail_jobs", "FAILED", QUOTA_ERROR),
                                     ("expire_jobs", "EXPIRED", None), ("cancel_jobs", "CANCELLED", None)):
            if getattr(self, attr) > 0:
                setattr(self, attr, getattr(self, attr) - 1)
                return outcome, error
        return None

    def take_rate_limit(self) -> bool:
        if self.rate_limit_creates > 0:
            self.rate_limit_creates -= 1
            return True
        return False

    def take_ambiguous(self) -> str | None:
        """The way this create's reply is lost, or None (consumes one count)."""
        if self.ambiguous_creates > 0:
            self.ambiguous_creates -= 1
            return self.ambiguous_create_mode
        return None


def unit(*parts: str) -> float:
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
