"""The batch-completion sensor's decisions, as pure functions (tested on their own).

Each tick polls at most ``max_polls`` in-flight jobs, round-robin after the cursor, so
a tick stays well inside Dagster's 60-second budget however many jobs are out. Run keys
name the job and its final state, so a job finishing is acted on exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass


def jobs_to_poll(active_job_ids: list[int], cursor: int, max_polls: int) -> list[int]:
    """Up to ``max_polls`` job ids, continuing after the last one polled (``cursor``)."""
    ordered = sorted(active_job_ids)
    after = [j for j in ordered if j > cursor]
    return (after + [j for j in ordered if j <= cursor])[:max_polls]


@dataclass(frozen=True)
class Polled:
    job_id: int
    shard: int
    state: str   # the job's state after this poll


@dataclass(frozen=True)
class Launch:
    job: str         # "ingest_concepts" or "submit_batches"
    shard: int
    run_key: str


def launches(polled: list[Polled]) -> list[Launch]:
    """Succeeded jobs get their shard's concepts ingested; failed, expired or cancelled
    jobs get their shard resubmitted (their requests are already marked failed)."""
    found = []
    for p in polled:
        if p.state == "succeeded":
            found.append(Launch("ingest_concepts", p.shard, f"job-{p.job_id}-succeeded"))
        elif p.state in ("failed", "expired", "cancelled"):
            found.append(Launch("submit_batches", p.shard, f"job-{p.job_id}-{p.state}-resubmit"))
    return found
