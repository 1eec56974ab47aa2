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
from polymath_assets.kb import ledger


@dataclass
class RunSummary:
    jobs_submitted: int = 0
    jobs_ingested: int = 0
    jobs_failed: int = 0
    concepts_loaded: int = 0
    notes: list[str] = field(default_factory=list)
    job_ids: list[int] = field(default_factory=list)


def scopes_with_work(conn: psycopg.Connection, s: ExtractionSettings, pilot: bool,
                     retry_failed: bool = True) -> list[int | None]:
    """Submission scopes that have waiting requests: all shards at once for the pilot,
    otherwise each shard on its own."""
    rows = conn.execute(
        """SELECT DISTINCT shard FROM passage_requests
           WHERE extractor_version = %s AND (status = 'pending' OR (%s AND status = 'failed' AND attempts < %s))
           ORDER BY shard""", (s.version, retry_failed, s.max_attempts)).fetchall()
    if not rows:
        return []
    return [None] if pilot else [shard for (shard,) in rows]


def drive(conn: psycopg.Connection, client: BatchClient, s: ExtractionSettings, *, pilot: bool,
          poll_interval_s: float = 5.0, timeout_s: float | None = None, retry_failed: bool = True,
          report: Callable[[str], None] = lambda _: None) -> RunSummary:
    """Submit, poll and ingest until no request is waiting or in flight.

    With ``retry_failed=False`` only never-submitted requests go out, so one call is one
    round; failed requests wait for the next run."""
    summary = RunSummary()
    summary.notes += runner.recover(conn, client, s)
    for note in summary.notes:
        report(note)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        failpoint("round")  # a safe point: a stop asked for (SIGINT/SIGTERM) ends the loop here
        for scope in scopes_with_work(conn, s, pilot, retry_failed):
            result = runner.submit(conn, client, s, scope, retry_failed=retry_failed)
            if result.job_id is not None:
                summary.jobs_submitted += 1
                summary.job_ids.append(result.job_id)
                report(f"job {result.job_id}: submitted {result.requests} requests (≈${result.estimated_cost_usd:.4f})")
        active = ledger.jobs(conn, s.version, ledger.ACTIVE_JOB_STATES + ("succeeded",))
        if not active:
            return summary
        for job in active:
            if job.state != "succeeded":
                status = runner.refresh(conn, client, s, job)
                if status.state in ledger.TERMINAL_FAILED_STATES:
                    summary.jobs_failed += 1
                    report(f"job {job.job_id}: {status.state} ({status.error or 'no results'}); "
                           "its requests will be resubmitted")
                if status.state != "succeeded":
                    continue
                job = next(j for j in ledger.jobs(conn, s.version, ("succeeded",)) if j.job_id == job.job_id)
            ingested = runner.ingest(conn, client, s, job)
            summary.jobs_ingested += 1
            summary.concepts_loaded += ingested.concepts_loaded
            report(f"job {job.job_id}: ingested, {ingested.concepts_loaded} concepts, outcomes {ingested.outcome_counts}")
        if deadline is not None and time.monotonic() > deadline:
            summary.notes.append("stopped waiting: jobs are still in flight; run the same command again to continue")
            return summary
        if ledger.jobs(conn, s.version, ledger.ACTIVE_JOB_STATES):
            failpoint("polling")
            time.sleep(poll_interval_s)
