"""The terminal's extraction loop: the same steps the Dagster assets and sensor run,
driven to completion in one process (``polymath pilot`` / ``polymath backfill``).

Running it again after any interruption continues where it stopped: it recovers
half-submitted jobs, re-attaches to jobs in flight, ingests finished ones and
resubmits only failed or expired requests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from polymath_assets.extraction import runner
from polymath_assets.extraction.runner import ExtractionSettings
from polymath_assets.failpoints import failpoint
from polymath_assets.gemini.client import BatchClient
from polymath_assets.kb import control, ledger


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
          report: Callable[[str], None] = lambda _: None) -> RunSummary:
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
            report(note)
        for scope in scopes_with_work(conn, s, selection, retry_failed):
            result = runner.submit(conn, client, s, scope, retry_failed=retry_failed, selection=selection)
            if result.job_id is not None:
                summary.jobs_submitted += 1
                summary.job_ids.append(result.job_id)
                report(f"job {result.job_id}: submitted {result.requests} requests (≈${result.estimated_cost_usd:.4f})")
            elif result.reason.startswith("deferred") and not deferred_noted:
                deferred_noted = True
                report(f"{result.reason}; waiting for jobs to finish")
        for job in ledger.jobs(conn, s.version, ledger.ACTIVE_JOB_STATES + ("succeeded",), selection=selection):
            if job.state != "succeeded":
                status = runner.refresh(conn, client, s, job)
                if status.state in ledger.TERMINAL_FAILED_STATES:
                    summary.jobs_failed += 1
                    report(f"job {job.job_id}: {status.state} ({status.error or 'no results'}); "
                           "its requests go back to pending")
                if status.state != "succeeded":
                    continue
            ingested = runner.ingest(conn, client, s, job)
            if ingested is None:
                continue  # another process ingests it
            summary.jobs_ingested += 1
            summary.concepts_loaded += ingested.concepts_loaded
            report(f"job {job.job_id}: ingested, {ingested.concepts_loaded} concepts, outcomes {ingested.outcome_counts}")
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
