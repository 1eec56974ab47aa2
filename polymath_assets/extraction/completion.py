"""The batch-completion sensor's decisions, as pure functions (tested on their own).

Level triggered: each tick derives what to launch from the ledger's state per shard
(``ShardState``), not from what that tick happened to see change. A shard with requests
waiting and nothing in flight gets a submission run; a succeeded job not yet ingested
gets an ingest run. Shards with a run of that job already queued or in progress are
skipped. Run keys carry an attempt number — one more than the failed runs for the same
work — so a failed run is launched again on a later tick, while a tick that repeats
itself (same state, same failures) asks for the same key and Dagster drops the repeat.

Polling stays bounded: at most ``max_polls`` in-flight jobs a tick, round-robin after the
cursor, so a tick stays well inside Dagster's 60-second budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

INGEST_JOB = "ingest_concepts"
SUBMIT_JOB = "submit_batches"


def jobs_to_poll(active_job_ids: list[int], cursor: int, max_polls: int) -> list[int]:
    """Up to ``max_polls`` job ids, continuing after the last one polled (``cursor``)."""
    ordered = sorted(active_job_ids)
    after = [j for j in ordered if j > cursor]
    return (after + [j for j in ordered if j <= cursor])[:max_polls]


@dataclass(frozen=True)
class ShardState:
    shard: int
    waiting_requests: int              # pending, or failed with attempts left
    jobs_in_flight: int
    latest_job_id: int                 # the shard's newest job (names the resubmission)
    succeeded_job_ids: tuple[int, ...]  # finished at the provider, not yet ingested


@dataclass(frozen=True)
class Launch:
    job: str
    shard: int
    work: str     # what the run is for; stable across ticks ("ingest-job-7")
    attempt: int  # 1 + failed runs for the same work

    @property
    def run_key(self) -> str:
        return f"{self.work}-attempt-{self.attempt}"


def launches(states: list[ShardState], busy: set[tuple[str, int]], failed_runs: Mapping[str, int]) -> list[Launch]:
    """What to launch now. ``busy``: (job, shard) with a run queued or in progress;
    ``failed_runs``: work → runs for it that failed or were cancelled."""
    found = []
    for state in states:
        if (INGEST_JOB, state.shard) not in busy:
            # One ingest run takes every succeeded job of the shard; it is named by the oldest.
            if state.succeeded_job_ids:
                work = f"ingest-job-{state.succeeded_job_ids[0]}"
                found.append(Launch(INGEST_JOB, state.shard, work, 1 + failed_runs.get(work, 0)))
        if (SUBMIT_JOB, state.shard) not in busy and state.waiting_requests and not state.jobs_in_flight:
            work = f"resubmit-shard-{state.shard}-after-job-{state.latest_job_id}"
            found.append(Launch(SUBMIT_JOB, state.shard, work, 1 + failed_runs.get(work, 0)))
    return found
