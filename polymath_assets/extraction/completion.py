"""The batch-completion sensor's decisions, as pure functions (tested on their own).

Level triggered: each tick derives what to launch from the ledger's state per shard
(``ShardState``), not from what that tick happened to see change. Any shard with a
succeeded job not yet ingested means one settle run — for all such shards together, in
one process — unless a settle run is already queued or going. A shard with requests
waiting and nothing in flight gets a submission run. Run keys carry an attempt number —
one more than the failed runs for the same work — so a failed run is launched again on a
later tick (up to ``MAX_RUN_ATTEMPTS``), while a tick that repeats itself (same state,
same failures) asks for the same key and Dagster drops the repeat.

Polling stays bounded: at most ``max_polls`` in-flight jobs a tick, round-robin after the
cursor, and never past the tick's deadline, so a tick stays well inside Dagster's
60-second budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

SETTLE_JOB = "settle_shards"
SUBMIT_JOB = "submit_batches"
MAX_RUN_ATTEMPTS = 3  # failed runs for one piece of work before the sensor stops relaunching it


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
    shard: int | None  # None: the settle run, for every shard ready
    work: str     # what the run is for; stable across ticks ("settle-after-job-7")
    attempt: int  # 1 + failed runs for the same work

    @property
    def run_key(self) -> str:
        return f"{self.work}-attempt-{self.attempt}"


def launches(states: list[ShardState], busy: set[tuple[str, int | None]],
             failed_runs: Mapping[str, int]) -> tuple[list[Launch], list[str]]:
    """What to launch now, and the work given up on. ``busy``: (job, shard) with a run queued
    or in progress (the settle run as (SETTLE_JOB, None)); ``failed_runs``: work → runs for it
    that failed or were cancelled."""
    found, given_up = [], []

    def launch(job: str, shard: int | None, work: str) -> None:
        failures = failed_runs.get(work, 0)
        if failures >= MAX_RUN_ATTEMPTS:
            given_up.append(work)
        else:
            found.append(Launch(job, shard, work, 1 + failures))

    succeeded = [job for state in states for job in state.succeeded_job_ids]
    if succeeded and (SETTLE_JOB, None) not in busy:
        # Named by the newest finished job: a job finishing later is new work.
        launch(SETTLE_JOB, None, f"settle-after-job-{max(succeeded)}")
    for state in states:
        if (SUBMIT_JOB, state.shard) not in busy and state.waiting_requests and not state.jobs_in_flight:
            launch(SUBMIT_JOB, state.shard, f"resubmit-shard-{state.shard}-after-job-{state.latest_job_id}")
    return found, given_up


def tick_message(polled: Mapping[int, str], errors: Mapping[int, str], not_reached: list[int],
                 in_flight: int, found: list[Launch], given_up: list[str]) -> str:
    """What a tick did, in one line for the UI's tick list: the jobs it polled (and their
    state), the runs it launched, and what it left for the next tick."""
    parts = [f"polled {len(polled) + len(errors)} of {in_flight} jobs in flight"
             + (": " + ", ".join(f"job {j} {state}" for j, state in sorted(polled.items())) if polled else "")]
    if errors:
        parts.append("could not read " + ", ".join(f"job {j} ({e[:80]})" for j, e in sorted(errors.items())))
    if not_reached:
        parts.append(f"{len(not_reached)} left for the next tick (deadline)")
    parts.append("launched " + ", ".join(launch.run_key for launch in found) if found else "nothing to launch")
    if given_up:
        parts.append(f"not relaunched after {MAX_RUN_ATTEMPTS} failed runs: {', '.join(given_up)} "
                     "(see those runs; `polymath run` finishes the shards)")
    return "; ".join(parts)
