"""Extraction steps over the ledger: select, submit, refresh, ingest, recover.

Each step commits its own bookkeeping before the next external call, so a process
killed anywhere leaves every passage in a known state and running again continues:

  [scope lock] create job row + claim + caps + spend reservation ─commit─ write file ─
  upload ─commit (guarded)─ create provider job ─commit job name at once (guarded)─ …
  poll … download ─ parse ─ load concepts + outcomes + job "ingested" in ONE transaction
  (the job row locked FOR UPDATE SKIP LOCKED).

A crash before the provider job's name is recorded is recovered — once the dead owner's
lease has expired, or its process is gone — by looking the job up by its unique display
name; if the provider never got it, the job is abandoned, its requests go back to
pending without counting an attempt, and its reserved spend is released. The rules for
concurrent writers are in kb/control.py.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from polymath_assets.config import Config
from polymath_assets.corpus.lexicon import CONCEPT_TYPES
from polymath_assets.extraction.cost import DEFAULT_CHARS_PER_TOKEN, Prices, calibrate, estimate_cost
from polymath_assets.extraction.parse import DEFAULT_NAME_LIMIT
from polymath_assets.extraction.requests import (
    RequestSettings,
    build_request,
    contents_chars,
    fixed_prompt_chars,
    gold_answer_tokens,
    write_request_file,
)
from polymath_assets.extraction.results import ResultContext, ResultStats, read_results
from polymath_assets.failpoints import failpoint
from polymath_assets.gemini.client import BatchClient, JobStatus, ProviderError
from polymath_assets.kb import control, ledger
from polymath_assets.kb.concepts import Outcome, load_concepts, record_outcomes
from polymath_assets.progress import progress_bar


class BudgetExceeded(RuntimeError):
    pass


class EnqueuedTokenCapTooSmall(BudgetExceeded):
    """Not even one request fits under POLYMATH_MAX_ENQUEUED_TOKENS with nothing in flight."""


@dataclass(frozen=True)
class ExtractionSettings:
    version: str
    request: RequestSettings
    prices: Prices
    expected_output_tokens: int
    max_attempts: int
    fuzzy_threshold: float
    budget_usd: float
    shard_count: int
    work_dir: Path
    max_enqueued_tokens: int = 10_000_000
    lease_s: int = 300
    chars_per_token: float = DEFAULT_CHARS_PER_TOKEN  # replaced by calibrate() against countTokens
    max_concept_name_chars: int = DEFAULT_NAME_LIMIT
    owner: str = field(default_factory=control.process_owner)  # who this process is, as a job owner

    @classmethod
    def from_config(cls, config: Config) -> "ExtractionSettings":
        request = RequestSettings.from_config(config, CONCEPT_TYPES)
        return cls(
            version=config.extractor_version,
            request=request,
            prices=Prices(config.price_input_per_m, config.price_output_per_m, config.price_cached_per_m),
            expected_output_tokens=config.expected_output_tokens or gold_answer_tokens(request.prompt_version),
            max_attempts=config.max_attempts,
            fuzzy_threshold=config.fuzzy_threshold,
            budget_usd=config.budget_usd,
            shard_count=config.shard_count,
            work_dir=config.home / "batches" / config.extractor_version,
            max_concept_name_chars=config.max_concept_name_chars,
            max_enqueued_tokens=config.max_enqueued_tokens,
            lease_s=config.job_lease_s,
        )

    @classmethod
    def for_run(cls, config: Config, run_id: str) -> "ExtractionSettings":
        """Settings for a Dagster run: the jobs it builds are owned by the run."""
        return replace(cls.from_config(config), owner=control.run_owner(run_id))

    @property
    def model(self) -> str:
        return self.request.model

    def result_context(self) -> ResultContext:
        return ResultContext(self.version, self.model, self.request.concept_types, self.fuzzy_threshold,
                             self.max_concept_name_chars, self.request.compact)


@dataclass
class SubmitResult:
    job_id: int | None
    requests: int = 0
    estimated_cost_usd: float = 0.0
    reason: str = ""
    deferred: bool = False  # waiting requests exist, but the token cap or another submitter holds them back
    cap_full: bool = False  # deferred by the enqueued-token cap (not by another submitter or a job in flight)


@dataclass
class IngestResult:
    job_id: int
    concepts_loaded: int
    outcome_counts: dict[str, int]
    stats: ResultStats = field(default_factory=ResultStats)


def _counted(items, bar):
    """Pass items through, counting them on a progress bar."""
    for item in items:
        bar.update(1)
        yield item


def _now() -> datetime:
    return datetime.now(timezone.utc)


def estimate_pending(conn: psycopg.Connection, s: ExtractionSettings, shard: int | None = None,
                     selection: str | None = None) -> dict:
    """Tokens and USD for the requests that still need a submission (pending or retryable)."""
    requests, chars = control.waiting_totals(conn, version=s.version, shard=shard, selection=selection,
                                             max_attempts=s.max_attempts)
    prompt, output, usd = estimate_cost(requests, chars + requests * fixed_prompt_chars(s.request),
                                        s.expected_output_tokens, s.prices, s.chars_per_token)
    return {"requests": requests, "prompt_tokens": prompt, "output_tokens": output, "estimated_cost_usd": usd}


def calibrate_tokens(conn: psycopg.Connection, client: BatchClient, s: ExtractionSettings,
                     sample: int = 20) -> ExtractionSettings:
    """Settings whose characters-per-token ratio comes from countTokens on real rendered
    requests for a sample of waiting passages, and whose expected output tokens come from
    the usage actually billed so far (the pilot's), once there is any.

    countTokens is given the request's ``contents`` only, so the ratio divides the
    characters of the contents — never the system instruction — by the tokens counted."""
    pairs = []
    for text in control.waiting_sample(conn, version=s.version, max_attempts=s.max_attempts, limit=sample):
        request = build_request(text, s.request)
        pairs.append((contents_chars(text, s.request), client.count_tokens(s.model, request)))
    return calibrate_output(conn, replace(s, chars_per_token=calibrate(pairs)))


def calibrate_output(conn: psycopg.Connection, s: ExtractionSettings) -> ExtractionSettings:
    """Expected output tokens per request from actual usage, when results exist."""
    measured = control.output_tokens_per_request(conn, s.version)
    return replace(s, expected_output_tokens=max(1, round(measured))) if measured else s


def select_shard(conn: psycopg.Connection, s: ExtractionSettings, shard: int) -> int:
    added = ledger.register_pending(conn, version=s.version, shard=shard, shard_count=s.shard_count,
                                    fingerprint=s.request.fingerprint(), max_attempts=s.max_attempts)
    conn.commit()
    return added


def select_pilot(conn: psycopg.Connection, s: ExtractionSettings, size: int) -> int | None:
    """Select a new pilot sample, or None when an unfinished pilot exists: running the
    pilot again after an interruption continues that pilot instead of starting another."""
    control.lock_selection(conn, s.version)  # two pilots started at once select one sample
    if ledger.checkpoint_status(conn, s.version, "pilot") == "running":
        conn.commit()
        return None
    selection = ledger.next_pilot_selection(conn, s.version)
    added = ledger.register_pilot(conn, version=s.version, size=size, shard_count=s.shard_count,
                                  fingerprint=s.request.fingerprint(), selection=selection)
    ledger.save_checkpoint(conn, s.version, "pilot", {"size": size, "selected": added, "selection": selection})
    conn.commit()  # selection and checkpoint together, or neither
    return added


def pilot_selection(conn: psycopg.Connection, s: ExtractionSettings) -> str | None:
    """The selection tag of the latest pilot (its sample), or None if there was none."""
    selection = ledger.checkpoint_value(conn, s.version, "pilot", "selection")
    conn.commit()
    return selection


def finish_run(conn: psycopg.Connection, s: ExtractionSettings, run: str, summary: dict) -> None:
    """Mark a pilot/backfill run completed once nothing of its scope (the pilot's sample,
    or the whole version) is waiting or in flight."""
    selection = pilot_selection(conn, s) if run == "pilot" else None
    remaining = control.scope_remaining(conn, version=s.version, selection=selection, max_attempts=s.max_attempts,
                                        retry_failed=True)
    ledger.save_checkpoint(conn, s.version, run, summary, status="running" if remaining else "completed")
    conn.commit()


def shards_to_submit(conn: psycopg.Connection, s: ExtractionSettings) -> list[int]:
    """Shards with waiting requests and no job of their own being built or in flight, when
    the enqueued-token cap has room: what a scheduler (the sensor) should submit next, so
    that submissions deferred by the cap go out in waves."""
    smallest_request = control.tokens_for_chars(fixed_prompt_chars(s.request), s.chars_per_token)
    if s.max_enqueued_tokens - control.enqueued_tokens(conn) < smallest_request:
        conn.commit()
        return []
    ready = [shard for shard in control.waiting_shards(conn, version=s.version, selection=None,
                                                       max_attempts=s.max_attempts, retry_failed=True)
             if control.active_scope_job(conn, version=s.version, shard=shard, selection=None) is None]
    conn.commit()
    return ready


def _scope_name(shard: int | None, selection: str | None) -> str:
    return selection if selection is not None else ("all" if shard is None else f"shard-{shard}")


def submit(conn: psycopg.Connection, client: BatchClient, s: ExtractionSettings, shard: int | None,
           retry_failed: bool = True, selection: str | None = None) -> SubmitResult:
    """Submit the scope's waiting requests (a shard's, a pilot selection's, or — shard and
    selection None — the version's) as one batch job, as many as fit under the
    enqueued-token cap. Never two jobs for one scope at once, never one request twice."""
    conn.commit()  # the scope lock is session state: start from a clean transaction
    with control.scope_lock(conn, s.version, _scope_name(shard, selection)) as mine:
        if not mine:
            return SubmitResult(None, reason="another process is submitting this scope", deferred=True)
        active = control.active_scope_job(conn, version=s.version, shard=shard, selection=selection)
        conn.commit()
        if active is not None:
            return SubmitResult(None, reason=f"job {active} is still in flight", deferred=True)
        return _submit_locked(conn, client, s, shard, selection, retry_failed)


def enqueued_room(conn: psycopg.Connection, s: ExtractionSettings) -> tuple[int, int]:
    """Inside the submission gate: (estimated input tokens enqueued now, prompt characters
    that still fit under POLYMATH_MAX_ENQUEUED_TOKENS)."""
    enqueued = control.enqueued_tokens(conn)
    return enqueued, max(0, int((s.max_enqueued_tokens - enqueued) * s.chars_per_token))


def cap_deferral(s: ExtractionSettings, scope: str, enqueued: int) -> str:
    """Why nothing of ``scope`` fit under the enqueued-token cap: the jobs in flight hold it
    (it waits for them), or — nothing in flight — one request is larger than the cap."""
    if enqueued == 0:
        raise EnqueuedTokenCapTooSmall(
            f"one request of {scope} needs more than POLYMATH_MAX_ENQUEUED_TOKENS={s.max_enqueued_tokens:,} "
            "estimated input tokens; raise the cap")
    return (f"deferred: {enqueued:,} estimated tokens already enqueued, cap POLYMATH_MAX_ENQUEUED_TOKENS="
            f"{s.max_enqueued_tokens:,}")


def _submit_locked(conn: psycopg.Connection, client: BatchClient, s: ExtractionSettings, shard: int | None,
                   selection: str | None, retry_failed: bool) -> SubmitResult:
    fixed = fixed_prompt_chars(s.request)
    # The gate: job row, claim, both caps and the spend reservation in one transaction.
    control.lock_gate(conn)
    enqueued, room_chars = enqueued_room(conn, s)
    job_id = control.create_job(conn, version=s.version, shard=shard, provider=client.provider, model=s.model,
                                owner=s.owner, lease_s=s.lease_s)
    claim = control.claim(conn, version=s.version, shard=shard, selection=selection, job_id=job_id,
                          max_attempts=s.max_attempts, retry_failed=retry_failed, fixed_chars=fixed,
                          room_chars=room_chars)
    if not claim.claimed:
        conn.rollback()  # no job row, nothing claimed: as if never tried
        if not claim.candidates:
            return SubmitResult(None, reason="nothing to submit")
        return SubmitResult(None, deferred=True, cap_full=True,
                            reason=cap_deferral(s, _scope_name(shard, selection), enqueued))
    usd = reserve_within_budget(conn, s, job_id=job_id, shard=shard, requests=claim.distinct_keys,
                                prompt_chars=claim.prompt_chars)
    conn.commit()
    failpoint("after_claim")
    try:
        return _build_and_create(conn, client, s, shard, job_id, claim, usd)
    except BaseException:
        _give_up(conn, job_id, s.owner)
        raise


def reserve_within_budget(conn: psycopg.Connection, s: ExtractionSettings, *, job_id: int, shard: int | None,
                          requests: int, prompt_chars: int) -> float:
    """Inside the submission gate: the job's estimate checked against the budget cap and
    reserved in the spend ledger (rolled back and refused past the cap). Returns the USD."""
    prompt, output, usd = estimate_cost(requests, prompt_chars, s.expected_output_tokens, s.prices, s.chars_per_token)
    committed = control.committed_usd(conn, s.version)
    if committed + usd > s.budget_usd:
        conn.rollback()
        raise BudgetExceeded(
            f"submitting {requests} requests (≈${usd:.4f}) would take the estimated total to "
            f"${committed + usd:.4f}, past POLYMATH_BUDGET_USD=${s.budget_usd:.2f}; raise the cap to continue")
    control.reserve(conn, version=s.version, job_id=job_id, shard=shard, requests=requests,
                    estimated_tokens=prompt + output, estimated_usd=usd)
    control.transition(conn, job_id, expected="building", owner=s.owner, request_count=requests,
                       prompt_tokens=prompt, enqueued_tokens=prompt, estimated_cost_usd=usd)
    return usd


def _give_up(conn: psycopg.Connection, job_id: int, owner: str) -> None:
    """An error or interrupt while building: hand the job to recovery now (it checks the
    provider by display name, so a job created just before the error is kept)."""
    try:
        conn.rollback()
        control.expire_lease(conn, job_id, owner)
        conn.commit()
    except psycopg.Error:
        pass  # the lease runs out by itself


def _build_and_create(conn: psycopg.Connection, client: BatchClient, s: ExtractionSettings, shard: int | None,
                      job_id: int, claim: control.Claim, usd: float, *, rows=None, build=build_request,
                      purpose: str = "extract") -> SubmitResult:
    """Write, upload and create the job of a claim; ``rows`` (key, payload) and ``build``
    (payload, request settings -> request) default to the extraction requests of the job."""
    display = ledger.display_name(s.version, shard, job_id, purpose)
    with control.heartbeat(conn, job_id, s.owner, s.lease_s) as lost:
        # per job and per process: no two writers ever share a file name
        path = s.work_dir / "requests" / f"{display}-{uuid.uuid4().hex[:8]}.jsonl"
        with progress_bar(total=claim.claimed, desc=f"requests job {job_id}", unit="req") as bar:
            write_request_file(path, _counted(ledger.job_requests(conn, job_id) if rows is None else rows, bar),
                               s.request, build)
        conn.commit()
        if not control.transition(conn, job_id, expected="building", owner=s.owner, input_path=str(path)):
            conn.commit()
            return SubmitResult(None, reason=f"job {job_id}: lease lost before upload")
        conn.commit()
        file_name = client.upload(path, display_name=path.name)
        if not control.transition(conn, job_id, expected="building", owner=s.owner, input_file=file_name,
                                  state="uploaded"):
            conn.commit()
            return SubmitResult(None, reason=f"job {job_id}: lease lost during upload")
        conn.commit()
        failpoint("after_upload")
        # Never create a job whose row we no longer hold: a recoverer may have released it.
        if lost.is_set() or not control.renew_lease(conn, job_id, s.owner, s.lease_s):
            conn.commit()
            return SubmitResult(None, reason=f"job {job_id}: lease lost before creation")
        conn.commit()
        job_name = client.create(s.model, file_name, display)
        failpoint("after_create")
        # Creation is not idempotent: the name is committed before anything else can fail.
        control.transition(conn, job_id, expected="uploaded", owner=s.owner, job_name=job_name, state="submitted",
                           submitted_at=_now())
        conn.commit()
    return SubmitResult(job_id, claim.distinct_keys, usd)


def recover(conn: psycopg.Connection, client: BatchClient, s: ExtractionSettings, *, purpose: str = "extract",
            release=None) -> list[str]:
    """Settle jobs (of one ``purpose``) that a crash left without a provider job name — only
    those whose owner's lease expired or whose owner process is gone; a live owner's job is
    never touched. ``release`` (conn, job id, note) returns an abandoned job's requests to
    where they wait; by default extraction's go back to pending (the repair lane passes
    its own, as for ``refresh``)."""
    notes = []
    label = "job" if purpose == "extract" else f"{purpose} job"
    taken = control.take_over_stale(conn, s.version, s.owner, s.lease_s, purpose=purpose)
    for job in ledger.jobs(conn, s.version, control.BUILDING_STATES, job_ids=taken, purpose=purpose):
        found = client.find_by_display_name(job.display_name) if job.state == "uploaded" else None
        if found:
            if control.transition(conn, job.job_id, expected="uploaded", owner=s.owner, job_name=found,
                                  state="submitted", submitted_at=_now()):
                notes.append(f"{label} {job.job_id}: re-attached to {found}")
        elif control.transition(conn, job.job_id, expected=job.state, owner=s.owner, state="abandoned",
                                enqueued_tokens=0, error="interrupted before submission"):
            if release is None:
                released, where = control.release_requests(conn, job.job_id), "back to pending"
            else:
                released, where = release(conn, job.job_id, "interrupted before submission"), "waiting again"
            control.release_spend(conn, job.job_id, "abandoned before the provider had it")
            notes.append(f"{label} {job.job_id}: interrupted before submission; {released} requests {where}")
        conn.commit()
    return notes


def refresh(conn: psycopg.Connection, client: BatchClient, s: ExtractionSettings, job: ledger.Job,
            release=control.release_requests, timeout_s: float | None = None) -> JobStatus:
    """Poll one job and record its state (guarded: a concurrent poller's newer update wins).
    A failed/expired/cancelled job returns its requests to pending with attempts unchanged:
    the job failed, not the requests (quota, expiry, cancellation). ``release`` (conn,
    job id, note) does that; the repair lane passes its own. ``timeout_s``: the caller's own
    deadline for the call, when nearer than the client's."""
    try:
        status = client.status(job.job_name, timeout_s=timeout_s)
    except ProviderError as err:
        if err.code != 404:
            raise
        # A job the provider no longer knows can never deliver: treat it as expired.
        status = JobStatus("expired", 0, 0, 0, None, "job not found at the provider")
    fields = dict(state=status.state, succeeded_count=status.succeeded_count, failed_count=status.failed_count)
    if status.output_file:
        fields["output_file"] = status.output_file
    if status.terminal:
        fields["finished_at"] = _now()
        fields["enqueued_tokens"] = 0
    if status.state in ledger.TERMINAL_FAILED_STATES:
        fields["error"] = status.error or f"job {status.state}"
        fields["actual_cost_usd"] = 0
    if control.transition(conn, job.job_id, expected=job.state, **fields) \
            and status.state in ledger.TERMINAL_FAILED_STATES:
        release(conn, job.job_id, f"batch job {status.state}: {status.error or 'no results'}")
        control.record_actual(conn, job.job_id, 0.0, 0, 0, note=f"job {status.state}: nothing billed")
    conn.commit()
    return status


def ingest(conn: psycopg.Connection, client: BatchClient, s: ExtractionSettings,
           job: ledger.Job) -> IngestResult | None:
    """Download a succeeded job's results and load them, all in one transaction that holds
    the job row; None when another process is ingesting it or already has."""
    stats = ResultStats()
    outcomes: list[Outcome] = []
    ctx = s.result_context()
    conn.commit()
    with conn.transaction():
        output_file = control.hold_for_ingest(conn, job.job_id)
        if output_file is None:
            return None
        path = _download(client, s, output_file, job.job_id)
        passages = ledger.job_passages(conn, job.job_id)
        with progress_bar(desc=f"results job {job.job_id}", unit="concept") as bar:
            loaded = load_concepts(conn, _counted(read_results(path, passages, ctx, stats, outcomes), bar))
        failpoint("mid_ingest")
        counts = record_outcomes(conn, version=s.version, job_id=job.job_id, outcomes=outcomes,
                                 max_attempts=s.max_attempts)
        actual = s.prices.cost(stats.prompt_tokens, stats.output_tokens, stats.cached_tokens)
        control.transition(conn, job.job_id, expected="succeeded", state="ingested", ingested_at=_now(),
                           prompt_tokens=stats.prompt_tokens, output_tokens=stats.output_tokens,
                           actual_cost_usd=actual, result_stats=Jsonb(stats.as_dict()),
                           error=f"{stats.missing_keys} requests had no result line" if stats.missing_keys else None)
        control.record_actual(conn, job.job_id, actual, stats.prompt_tokens, stats.output_tokens)
    conn.commit()
    return IngestResult(job.job_id, loaded, counts, stats)


def _download(client: BatchClient, s: ExtractionSettings, output_file: str, job_id: int) -> Path:
    """The job's result file, downloaded once. Named by the provider's output file (unique
    there) and our job id; fetched under a name of this process's own and renamed, so two
    processes never write one file."""
    path = s.work_dir / "results" / f"{output_file.replace('/', '_')}-job-{job_id}.jsonl"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        mine = path.with_name(f"{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.download")
        client.download(output_file, mine)
        mine.replace(path)
    return path
