"""Extraction steps over the ledger: select, submit, refresh, ingest, recover.

Each step commits its own bookkeeping before the next external call, so a process
killed anywhere leaves every passage in a known state and running again continues:

  create job row ─commit─ claim requests ─commit─ write file ─ budget check ─ upload
  ─commit─ create provider job ─commit job name at once─ … poll … download ─ parse ─
  load concepts + outcomes + job "ingested" in ONE transaction.

A crash before the provider job's name is recorded is recovered by looking the job up by
its unique display name; if the provider never got it, the job is abandoned and its
requests go back to pending without counting an attempt.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from polymath_assets.config import Config
from polymath_assets.corpus.lexicon import CONCEPT_TYPES
from polymath_assets.extraction.cost import DEFAULT_CHARS_PER_TOKEN, Prices, calibrate, estimate_cost
from polymath_assets.extraction.parse import DEFAULT_NAME_LIMIT
from polymath_assets.extraction.requests import RequestSettings, write_request_file
from polymath_assets.extraction.results import ResultContext, ResultStats, read_results
from polymath_assets.failpoints import failpoint
from polymath_assets.gemini.client import BatchClient, JobStatus, ProviderError
from polymath_assets.kb import ledger
from polymath_assets.kb.concepts import Outcome, load_concepts, record_outcomes
from polymath_assets.progress import progress_bar


class BudgetExceeded(RuntimeError):
    pass


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
    chars_per_token: float = DEFAULT_CHARS_PER_TOKEN  # replaced by calibrate() against countTokens
    max_concept_name_chars: int = DEFAULT_NAME_LIMIT

    @classmethod
    def from_config(cls, config: Config) -> "ExtractionSettings":
        return cls(
            version=config.extractor_version,
            request=RequestSettings.from_config(config, CONCEPT_TYPES),
            prices=Prices(config.price_input_per_m, config.price_output_per_m),
            expected_output_tokens=config.expected_output_tokens,
            max_attempts=config.max_attempts,
            fuzzy_threshold=config.fuzzy_threshold,
            budget_usd=config.budget_usd,
            shard_count=config.shard_count,
            work_dir=config.home / "batches" / config.extractor_version,
            max_concept_name_chars=config.max_concept_name_chars,
        )

    @property
    def model(self) -> str:
        return self.request.model


@dataclass
class SubmitResult:
    job_id: int | None
    requests: int = 0
    estimated_cost_usd: float = 0.0
    reason: str = ""


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


def estimate_pending(conn: psycopg.Connection, s: ExtractionSettings, shard: int | None = None) -> dict:
    """Tokens and USD for the requests that still need a submission (pending or retryable)."""
    requests, chars = conn.execute(
        """SELECT count(DISTINCT r.request_key), coalesce(sum(length(p.passage_text)), 0)
           FROM passage_requests r JOIN passages p USING (passage_id)
           WHERE r.extractor_version = %s AND (%s::int IS NULL OR r.shard = %s)
             AND (r.status = 'pending' OR (r.status = 'failed' AND r.attempts < %s))""",
        (s.version, shard, shard, s.max_attempts)).fetchone()
    fixed = _fixed_prompt_chars(s)
    prompt, output, usd = estimate_cost(requests, chars + requests * fixed, s.expected_output_tokens, s.prices,
                                        s.chars_per_token)
    return {"requests": requests, "prompt_tokens": prompt, "output_tokens": output, "estimated_cost_usd": usd}


def _fixed_prompt_chars(s: ExtractionSettings) -> int:
    from polymath_assets.extraction.prompt import SYSTEM_INSTRUCTION, user_prompt

    return len(SYSTEM_INSTRUCTION) + len(user_prompt("", s.request.concept_types))


def calibrate_tokens(conn: psycopg.Connection, client: BatchClient, s: ExtractionSettings,
                     sample: int = 20) -> ExtractionSettings:
    """Settings whose characters-per-token ratio comes from countTokens on real rendered
    requests for a sample of waiting passages (the fast estimate stays calibrated)."""
    from dataclasses import replace

    from polymath_assets.extraction.requests import build_request

    rows = conn.execute(
        """SELECT p.passage_text FROM passage_requests r JOIN passages p USING (passage_id)
           WHERE r.extractor_version = %s AND r.status IN ('pending', 'failed')
           ORDER BY r.request_key LIMIT %s""", (s.version, sample)).fetchall()
    fixed = _fixed_prompt_chars(s)
    pairs = []
    for (text,) in rows:
        request = build_request(text, s.request)
        pairs.append((fixed + len(text), client.count_tokens(s.model, request)))
    return replace(s, chars_per_token=calibrate(pairs))


def select_shard(conn: psycopg.Connection, s: ExtractionSettings, shard: int) -> int:
    added = ledger.register_pending(conn, version=s.version, shard=shard, shard_count=s.shard_count,
                                    fingerprint=s.request.fingerprint())
    conn.commit()
    return added


def select_pilot(conn: psycopg.Connection, s: ExtractionSettings, size: int) -> int | None:
    """Select a new pilot sample, or None when an unfinished pilot exists: running the
    pilot again after an interruption continues that pilot instead of starting another."""
    if ledger.checkpoint_status(conn, s.version, "pilot") == "running":
        return None
    added = ledger.register_pilot(conn, version=s.version, size=size, shard_count=s.shard_count,
                                  fingerprint=s.request.fingerprint())
    ledger.save_checkpoint(conn, s.version, "pilot", {"size": size, "selected": added})
    conn.commit()  # selection and checkpoint together, or neither
    return added


def finish_run(conn: psycopg.Connection, s: ExtractionSettings, run: str, summary: dict) -> None:
    """Mark a pilot/backfill run completed once nothing of it is waiting or in flight."""
    waiting = conn.execute(
        """SELECT count(*) FROM passage_requests WHERE extractor_version = %s
           AND (status IN ('pending', 'in_flight') OR (status = 'failed' AND attempts < %s))""",
        (s.version, s.max_attempts)).fetchone()[0]
    ledger.save_checkpoint(conn, s.version, run, summary, status="running" if waiting else "completed")
    conn.commit()


def submit(conn: psycopg.Connection, client: BatchClient, s: ExtractionSettings, shard: int | None,
           limit: int | None = None, retry_failed: bool = True) -> SubmitResult:
    """Submit the scope's waiting requests as one batch job, unless a job of that scope is
    still in flight (never two jobs for the same work)."""
    active = [j for j in ledger.jobs(conn, s.version, ledger.ACTIVE_JOB_STATES) if j.shard == shard]
    if active:
        return SubmitResult(None, reason=f"job {active[0].job_id} is still in flight")
    job_id = ledger.create_job(conn, version=s.version, shard=shard, provider=client.provider, model=s.model)
    conn.commit()
    claimed = ledger.claim_requests(conn, version=s.version, shard=shard, job_id=job_id,
                                    max_attempts=s.max_attempts, limit=limit, retry_failed=retry_failed)
    conn.commit()
    failpoint("after_claim")
    if not claimed:
        ledger.update_job(conn, job_id, state="abandoned", error="nothing to submit")
        conn.commit()
        return SubmitResult(None, reason="nothing to submit")

    # unique even when two databases share one POLYMATH_HOME (job ids are per database)
    path = s.work_dir / "requests" / f"{ledger.display_name(s.version, shard, job_id)}-{uuid.uuid4().hex[:8]}.jsonl"
    with progress_bar(total=claimed, desc=f"requests job {job_id}", unit="req") as bar:
        file_stats = write_request_file(path, _counted(ledger.job_requests(conn, job_id), bar), s.request)
    prompt, output, usd = estimate_cost(file_stats.requests, file_stats.prompt_chars, s.expected_output_tokens,
                                        s.prices, s.chars_per_token)
    committed = ledger.costs(conn, s.version)["committed_estimate_usd"]
    if committed + usd > s.budget_usd:
        ledger.fail_job_requests(conn, job_id, "", s.max_attempts, release=True)
        ledger.update_job(conn, job_id, state="abandoned", error="budget cap")
        conn.commit()
        raise BudgetExceeded(
            f"submitting {file_stats.requests} requests (≈${usd:.4f}) would take the estimated total to "
            f"${committed + usd:.4f}, past POLYMATH_BUDGET_USD=${s.budget_usd:.2f}; raise the cap to continue")
    ledger.update_job(conn, job_id, input_path=str(path), request_count=file_stats.requests,
                      prompt_tokens=prompt, estimated_cost_usd=usd)
    conn.commit()

    file_name = client.upload(path, display_name=path.name)
    ledger.update_job(conn, job_id, input_file=file_name, state="uploaded")
    conn.commit()
    failpoint("after_upload")
    display = ledger.display_name(s.version, shard, job_id)
    job_name = client.create(s.model, file_name, display)
    failpoint("after_create")
    # Creation is not idempotent: the name is committed before anything else can fail.
    ledger.update_job(conn, job_id, job_name=job_name, state="submitted", submitted_at=_now())
    conn.commit()
    return SubmitResult(job_id, file_stats.requests, usd)


def recover(conn: psycopg.Connection, client: BatchClient, s: ExtractionSettings) -> list[str]:
    """Settle jobs that a crash left without a provider job name."""
    notes = []
    for job in ledger.jobs(conn, s.version, ("building", "uploaded")):
        found = client.find_by_display_name(job.display_name) if job.state == "uploaded" else None
        if found:
            ledger.update_job(conn, job.job_id, job_name=found, state="submitted", submitted_at=_now())
            notes.append(f"job {job.job_id}: re-attached to {found}")
        else:
            released = ledger.fail_job_requests(conn, job.job_id, "", s.max_attempts, release=True)
            ledger.update_job(conn, job.job_id, state="abandoned", error="interrupted before submission")
            notes.append(f"job {job.job_id}: interrupted before submission; {released} requests back to pending")
        conn.commit()
    return notes


def refresh(conn: psycopg.Connection, client: BatchClient, s: ExtractionSettings, job: ledger.Job) -> JobStatus:
    """Poll one job; record its state; a failed/expired/cancelled job fails its requests
    (they are resubmitted by the next submit, or dead after max attempts)."""
    try:
        status = client.status(job.job_name)
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
    if status.state in ledger.TERMINAL_FAILED_STATES:
        fields["error"] = status.error or f"job {status.state}"
        ledger.fail_job_requests(conn, job.job_id, f"batch job {status.state}: {status.error or 'no results'}",
                                 s.max_attempts)
        fields["actual_cost_usd"] = 0
    ledger.update_job(conn, job.job_id, **fields)
    conn.commit()
    return status


def ingest(conn: psycopg.Connection, client: BatchClient, s: ExtractionSettings, job: ledger.Job) -> IngestResult:
    """Download a succeeded job's results and load them, all in one transaction."""
    # Named by the provider's output file (unique there), not by our job id: a cached
    # download is reused after a crash, and never mistaken for another database's job.
    path = s.work_dir / "results" / f"{job.output_file.replace('/', '_')}.jsonl"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        client.download(job.output_file, path)
    ctx = ResultContext(s.version, s.model, s.request.concept_types, s.fuzzy_threshold, s.max_concept_name_chars)
    stats = ResultStats()
    outcomes: list[Outcome] = []
    with conn.transaction():
        passages = ledger.job_passages(conn, job.job_id)
        with progress_bar(desc=f"results job {job.job_id}", unit="concept") as bar:
            loaded = load_concepts(conn, _counted(read_results(path, passages, ctx, stats, outcomes), bar))
        failpoint("mid_ingest")
        counts = record_outcomes(conn, version=s.version, job_id=job.job_id, outcomes=outcomes,
                                 max_attempts=s.max_attempts)
        actual = s.prices.cost(stats.prompt_tokens, stats.output_tokens)
        ledger.update_job(conn, job.job_id, state="ingested", ingested_at=_now(), prompt_tokens=stats.prompt_tokens,
                          output_tokens=stats.output_tokens, actual_cost_usd=actual, result_stats=Jsonb(stats.as_dict()),
                          error=f"{stats.missing_keys} requests had no result line" if stats.missing_keys else None)
    conn.commit()
    return IngestResult(job.job_id, loaded, counts, stats)
