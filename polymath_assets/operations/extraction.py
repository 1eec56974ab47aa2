"""Extraction use cases: the pilot, the backfill's plan and budget check, submitting
shards, polling and ingesting (settling) a scope, and the terminal's loop that drives a
scope to completion. The steps themselves are in ``extraction/runner.py``; the rules for
concurrent writers in ``kb/control.py``.

Running any of these again after an interruption continues where it stopped: half-
submitted jobs are recovered, jobs in flight re-attached, finished ones ingested, and only
failed or expired requests resubmitted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import psycopg

from polymath_assets.config import Config
from polymath_assets.extraction import runner
from polymath_assets.extraction.estimate import CostProjection, project
from polymath_assets.extraction.runner import BudgetExceeded, ExtractionSettings, SubmitResult
from polymath_assets.failpoints import failpoint
from polymath_assets.gemini.client import BatchClient, JobStatus, ProviderError
from polymath_assets.kb import control, ledger
from polymath_assets.operations import Progress, quiet
from polymath_assets.qc.gates import Thresholds
from polymath_assets.qc.report import Report, write_extraction_report

# Said whenever gates hold work back while the emulator stood in for the model: its
# answers come from rules, so a gate failing (or passing) on real text says little.
OFFLINE_GATE_HINT = ("offline emulator: a deterministic stand-in, not a language model; "
                     "gate results on real text only mean something with Gemini")


@dataclass
class Estimate:
    requests: int
    prompt_tokens: int
    output_tokens: int
    cost_usd: float

    @classmethod
    def pending(cls, conn: psycopg.Connection, s: ExtractionSettings, shard: int | None = None,
                selection: str | None = None) -> "Estimate":
        found = runner.estimate_pending(conn, s, shard=shard, selection=selection)
        return cls(found["requests"], found["prompt_tokens"], found["output_tokens"], found["estimated_cost_usd"])

    def line(self) -> str:
        return (f"{self.requests} requests waiting, ≈{self.prompt_tokens:,} input + {self.output_tokens:,} output "
                f"tokens, ≈${self.cost_usd:.4f}")


# --- budget -----------------------------------------------------------------------------

def check_budget(conn: psycopg.Connection, s: ExtractionSettings, estimate: Estimate) -> float:
    """Refuse work whose estimate would take the version's committed spend (actual costs and
    reservations of jobs in flight) past the cap, before anything is submitted. Returns what
    is already committed. Each submission checks the cap again, atomically (kb/control.py)."""
    committed = control.spend_totals(conn, s.version)["committed_estimate_usd"]
    conn.commit()
    if committed + estimate.cost_usd > s.budget_usd:
        raise BudgetExceeded(
            f"estimated total ${committed + estimate.cost_usd:.4f} (${committed:.4f} committed + "
            f"${estimate.cost_usd:.4f} to submit) exceeds POLYMATH_BUDGET_USD=${s.budget_usd:.2f}; "
            "raise the cap or run a smaller scope")
    return committed


# countTokens measures the model's tokenizer on the corpus's text: once per process, model
# and request format is enough (`polymath run` over 64 shards would otherwise ask 64 times).
_CHARS_PER_TOKEN: dict[tuple[str, str], float] = {}


def calibrated(conn: psycopg.Connection, client: BatchClient, s: ExtractionSettings) -> ExtractionSettings:
    """Settings whose token estimate is calibrated: characters per token from countTokens on
    a sample of waiting requests (measured once per process), output tokens from the usage
    billed so far."""
    key = (s.model, s.request.fingerprint())
    if key in _CHARS_PER_TOKEN:
        return runner.calibrate_output(conn, replace(s, chars_per_token=_CHARS_PER_TOKEN[key]))
    s = runner.calibrate_tokens(conn, client, s)
    _CHARS_PER_TOKEN[key] = s.chars_per_token
    return s


# --- polling and ingesting ----------------------------------------------------------------

MIN_CALL_S = 1.0  # a status call given less time than this is left for the next tick


@dataclass
class PollResult:
    statuses: dict[int, JobStatus] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)  # job -> why its state could not be read
    not_reached: list[int] = field(default_factory=list)  # left for later: the deadline came first


def poll_jobs(conn: psycopg.Connection, client: BatchClient, s: ExtractionSettings, jobs: list[ledger.Job], *,
              deadline: float | None = None) -> PollResult:
    """Refresh each job's state from the provider, in order, until ``deadline``
    (``time.monotonic()``); no call may outlast it (each is given the time left). A failed
    read — an error, or a provider that does not answer in time — is recorded, never taken
    for an answer: the job is simply polled again later."""
    result = PollResult()
    for job in jobs:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left < MIN_CALL_S:
            result.not_reached.append(job.job_id)
            continue
        try:
            result.statuses[job.job_id] = runner.refresh(conn, client, s, job, timeout_s=left)  # commits
        except ProviderError as err:
            conn.rollback()
            result.errors[job.job_id] = str(err)
    return result


@dataclass
class SettleResult:
    ingested: list[int] = field(default_factory=list)
    concepts_loaded: int = 0
    failed_jobs: list[int] = field(default_factory=list)
    still_running: list[int] = field(default_factory=list)


def settle(conn: psycopg.Connection, client: BatchClient, s: ExtractionSettings, *, shard: int | None = None,
           selection: str | None = None, progress: Progress = quiet) -> SettleResult:
    """Poll the scope's jobs in flight (one shard's, a pilot's sample's, or the version's)
    and ingest every finished one. A job that failed, expired or was cancelled returns its
    requests to pending; a job another process is ingesting is left to it."""
    result = SettleResult()
    for job in ledger.jobs(conn, s.version, ledger.ACTIVE_JOB_STATES, shard=shard, selection=selection):
        status = runner.refresh(conn, client, s, job)
        if not status.terminal:
            result.still_running.append(job.job_id)
        elif status.state in ledger.TERMINAL_FAILED_STATES:
            result.failed_jobs.append(job.job_id)
            progress(f"job {job.job_id}: {status.state} ({status.error or 'no results'}); "
                     "its requests go back to pending")
    for job in ledger.jobs(conn, s.version, ("succeeded",), shard=shard, selection=selection):
        ingested = runner.ingest(conn, client, s, job)
        if ingested is None:
            continue  # another process ingests it
        result.ingested.append(job.job_id)
        result.concepts_loaded += ingested.concepts_loaded
        progress(f"job {job.job_id}: ingested, {ingested.concepts_loaded} concepts, outcomes "
                 f"{ingested.outcome_counts}")
    return result


# --- submitting ---------------------------------------------------------------------------

@dataclass
class ShardSubmissions:
    notes: list[str] = field(default_factory=list)  # recovered jobs
    results: dict[int, SubmitResult] = field(default_factory=dict)

    @property
    def cap_full(self) -> list[int]:
        """Shards held back by the enqueued-token cap: to be tried again once jobs finish."""
        return [shard for shard, r in self.results.items() if r.cap_full]


def submit_shards(conn: psycopg.Connection, client: BatchClient, s: ExtractionSettings, shards: list[int], *,
                  progress: Progress = quiet) -> ShardSubmissions:
    """Submit each shard's waiting requests as its own batch job (what a partition backfill
    of ``submit_batches`` does): half-submitted jobs of crashed runs are recovered first, the
    estimate is calibrated, and work past the budget cap is refused before anything goes out."""
    out = ShardSubmissions(notes=runner.recover(conn, client, s))
    for note in out.notes:
        progress(note)
    waiting = set(control.waiting_shards(conn, version=s.version, selection=None, max_attempts=s.max_attempts,
                                         retry_failed=True)) & set(shards)
    conn.commit()
    if waiting:
        s = calibrated(conn, client, s)
        estimates = [Estimate.pending(conn, s, shard=shard) for shard in sorted(waiting)]
        check_budget(conn, s, Estimate(*(sum(getattr(e, f) for e in estimates) for f in
                                         ("requests", "prompt_tokens", "output_tokens", "cost_usd"))))
    for shard in shards:
        failpoint("round")
        result = out.results[shard] = runner.submit(conn, client, s, shard)
        if result.job_id is not None:
            progress(f"shard {shard}: job {result.job_id} submitted, {result.requests} requests "
                     f"(≈${result.estimated_cost_usd:.4f})")
        elif result.reason != "nothing to submit":
            progress(f"shard {shard}: no job submitted ({result.reason})")
    return out


# --- the terminal's loop ------------------------------------------------------------------

@dataclass
class RunSummary:
    jobs_submitted: int = 0
    jobs_ingested: int = 0
    jobs_failed: int = 0
    concepts_loaded: int = 0
    notes: list[str] = field(default_factory=list)
    job_ids: list[int] = field(default_factory=list)


def scopes_with_work(conn: psycopg.Connection, s: ExtractionSettings, selection: str | None,
                     retry_failed: bool = True) -> list[int | None]:
    """Submission scopes that have waiting requests: the pilot's sample as one scope,
    otherwise each shard on its own."""
    shards = control.waiting_shards(conn, version=s.version, selection=selection, max_attempts=s.max_attempts,
                                    retry_failed=retry_failed)
    conn.commit()
    if not shards:
        return []
    return [None] if selection is not None else list(shards)


def drive(conn: psycopg.Connection, client: BatchClient, s: ExtractionSettings, *, pilot: bool,
          poll_interval_s: float = 5.0, timeout_s: float | None = None, retry_failed: bool = True,
          progress: Progress = quiet) -> RunSummary:
    """Submit, poll and ingest until nothing of the scope is waiting or in flight. The
    scope is the latest pilot's sample for ``pilot``, else the whole extractor version.

    Other processes may work on the same scope at once (kb/control.py): their jobs are
    polled and ingested by whoever gets there first; submissions held back by the
    enqueued-token cap or by another submitter are retried each round, so a large
    backfill goes out in waves. With ``retry_failed=False`` only never-submitted
    requests go out, so one call is one round; failed requests wait for the next run."""
    summary = RunSummary()
    selection = runner.pilot_selection(conn, s) if pilot else None
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    deferred_noted = False
    while True:
        failpoint("round")  # a safe point: a stop asked for (SIGINT/SIGTERM) ends the loop here
        for note in runner.recover(conn, client, s):
            summary.notes.append(note)
            progress(note)
        for scope in scopes_with_work(conn, s, selection, retry_failed):
            result = runner.submit(conn, client, s, scope, retry_failed=retry_failed, selection=selection)
            if result.job_id is not None:
                summary.jobs_submitted += 1
                summary.job_ids.append(result.job_id)
                progress(f"job {result.job_id}: submitted {result.requests} requests "
                         f"(≈${result.estimated_cost_usd:.4f})")
            elif result.reason.startswith("deferred") and not deferred_noted:
                deferred_noted = True
                progress(f"{result.reason}; waiting for jobs to finish")
        settled = settle(conn, client, s, selection=selection, progress=progress)
        summary.jobs_failed += len(settled.failed_jobs)
        summary.jobs_ingested += len(settled.ingested)
        summary.concepts_loaded += settled.concepts_loaded
        remaining = control.scope_remaining(conn, version=s.version, selection=selection,
                                            max_attempts=s.max_attempts, retry_failed=retry_failed)
        conn.commit()
        if not remaining:
            return summary
        if deadline is not None and time.monotonic() > deadline:
            summary.notes.append("stopped waiting: jobs are still in flight; run the same command again to continue")
            return summary
        failpoint("polling")
        time.sleep(poll_interval_s)


def finish(conn: psycopg.Connection, s: ExtractionSettings, config: Config, label: str,
           summary: RunSummary) -> Report:
    """Record the run's checkpoint (completed once nothing of its scope waits) and write its
    QC report with the chart."""
    runner.finish_run(conn, s, label, {"jobs_submitted": summary.jobs_submitted,
                                       "concepts_loaded": summary.concepts_loaded})
    return write_extraction_report(conn, s, config.runlog_dir, label=label, thresholds=Thresholds.from_config(config))


# --- the pilot and the backfill -------------------------------------------------------------

@dataclass
class PilotOutcome:
    selection: str | None
    summary: RunSummary
    report: Report
    states: dict[str, int]  # the sample's requests by ledger state


def run_pilot(conn: psycopg.Connection, client: BatchClient, s: ExtractionSettings, config: Config, *,
              size: int, poll_interval_s: float, timeout_s: float | None,
              progress: Progress = quiet) -> PilotOutcome:
    """A random sample of pending passages end to end: selected (or the unfinished pilot
    continued), estimated with calibrated tokens, submitted, waited for, loaded and
    reported. The gates decide whether the backfill should follow (``report.passed``)."""
    selected = runner.select_pilot(conn, s, size)
    selection = runner.pilot_selection(conn, s)
    s = calibrated(conn, client, s)
    estimate = Estimate.pending(conn, s, selection=selection)
    progress(f"pilot: {'continuing the unfinished pilot' if selected is None else f'{selected} passages selected'}; "
             f"{estimate.line()} ({s.chars_per_token:.2f} characters per token, from countTokens)")
    for line in project(conn, s).lines():
        progress(line)
    conn.commit()
    summary = drive(conn, client, s, pilot=True, poll_interval_s=poll_interval_s, timeout_s=timeout_s,
                    progress=progress)
    for note in summary.notes:
        progress(note)
    report = finish(conn, s, config, "pilot", summary)
    states = ledger.selection_states(conn, s.version, selection) if selection else {}
    conn.commit()
    return PilotOutcome(selection, summary, report, states)


@dataclass
class BackfillPlan:
    selected: int
    estimate: Estimate
    committed_usd: float
    unselected: int  # passages lacking concepts that a real run would select (dry run)
    projection: CostProjection  # per 1,000 passages and for the whole pending corpus


def plan_backfill(conn: psycopg.Connection, client: BatchClient | None, s: ExtractionSettings, *,
                  dry_run: bool, on_shard: Progress = quiet) -> tuple[BackfillPlan, ExtractionSettings]:
    """Select every shard's passages that lack concepts (not in a dry run), calibrate the
    estimate when a client is given, and measure it against what is already committed."""
    selected = 0
    for shard in range(s.shard_count):
        selected += 0 if dry_run else runner.select_shard(conn, s, shard)
        on_shard(str(shard))
    if client is not None:
        s = calibrated(conn, client, s)
    estimate = Estimate.pending(conn, s)
    committed = control.spend_totals(conn, s.version)["committed_estimate_usd"]
    unselected = ledger.unselected_count(conn, s.version) if dry_run else 0
    projection = project(conn, s)
    conn.commit()
    return BackfillPlan(selected, estimate, committed, unselected, projection), s
