"""Shard runs: each shard's chain of assets as its own run, in one process, with every
outcome classified — `polymath run` (the whole chain for every shard) and the settle run
the batch-completion sensor launches (the chain after submission, for every shard whose
batch job has finished) are the same loop.

One run per shard keeps Dagster's own per-partition semantics (a shard failing a blocking
gate is held back and shown failed, the others go on); one process for all of them loads
the embedding model once, where a run per shard would load it again for every shard. How
a shard's run executes is the caller's (``run_shard``: ``defs/execution.py`` materializes
it in the Dagster instance); this module knows only what the outcomes mean.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from polymath_assets.extraction.runner import ExtractionSettings
from polymath_assets.interrupts import checkpoint
from polymath_assets.kb import control
from polymath_assets.kb.sensor_state import shard_states
from polymath_assets.operations import Progress, quiet
from polymath_assets.operations.extraction import OFFLINE_GATE_HINT
from polymath_assets.shards import shard_key


@dataclass(frozen=True)
class ShardRun:
    """How one shard's run ended: ``failed_checks`` non-empty means held back by a gate;
    otherwise ``error`` (the failed step's own error) or success."""

    shard: int
    success: bool
    failed_checks: tuple[str, ...] = ()
    error: str | None = None


@dataclass
class ShardOutcomes:
    shards_ok: list[int] = field(default_factory=list)
    shards_gated: dict[int, list[str]] = field(default_factory=dict)  # shard -> failed checks
    shards_failed: dict[int, str] = field(default_factory=dict)
    qc_verdict: str = ""
    graph_counts: dict[str, int] = field(default_factory=dict)
    offline: bool = False

    @property
    def ok(self) -> bool:
        return not self.shards_failed and not self.shards_gated and self.qc_verdict == "PASS"

    def add(self, run: ShardRun) -> str:
        """Record one shard's run; the line an operator sees for it."""
        if run.failed_checks:
            self.shards_gated[run.shard] = list(run.failed_checks)
            return f"{shard_key(run.shard)}: held back ({', '.join(run.failed_checks)})"
        if not run.success:
            self.shards_failed[run.shard] = run.error or "run failed"
            return f"{shard_key(run.shard)}: FAILED"
        self.shards_ok.append(run.shard)
        return f"{shard_key(run.shard)}: ok"

    def summary(self) -> str:
        lines = [f"shards complete: {len(self.shards_ok)}; held back by a gate: {len(self.shards_gated)}; "
                 f"failed: {len(self.shards_failed)}; QC report: {self.qc_verdict or 'not written'}"]
        lines += [f"  shard {s}: gate failed {', '.join(checks)}" for s, checks in self.shards_gated.items()]
        lines += [f"  shard {s} failed: {error}" for s, error in self.shards_failed.items()]
        if self.shards_failed:
            lines.append("Committed work is kept: once the cause is fixed, run `polymath run` again to finish "
                         "these shards.")
        if self.offline and (self.shards_gated or self.qc_verdict == "FAIL"):
            lines.append(OFFLINE_GATE_HINT)
        return "\n".join(lines)


def run_shards(shards: list[int], run_shard: Callable[[int], ShardRun], outcomes: ShardOutcomes, *,
               progress: Progress = quiet) -> ShardOutcomes:
    """Each shard's run in turn; a stop asked for (SIGINT/SIGTERM) starts no further shard
    (each shard's run is resumable)."""
    for shard in shards:
        checkpoint()
        progress(outcomes.add(run_shard(shard)))
    return outcomes


def shards_ready_to_settle(conn: psycopg.Connection, s: ExtractionSettings) -> list[int]:
    """Shards with a batch job that finished at the provider and is not ingested yet."""
    ready = [state.shard for state in shard_states(conn, s.version, s.max_attempts) if state.succeeded_job_ids]
    conn.commit()
    return ready


def corpus_settled(conn: psycopg.Connection, s: ExtractionSettings) -> bool:
    """Nothing of the version waits for a submission or is in flight: every selected passage
    is done, dead, or held back in a shard's gate — the moment for the corpus QC report."""
    remaining = control.scope_remaining(conn, version=s.version, selection=None, max_attempts=s.max_attempts,
                                        retry_failed=True)
    conn.commit()
    return remaining == 0


def settle_ready(conn: psycopg.Connection, s: ExtractionSettings, run_shard: Callable[[int], ShardRun],
                 poll: Callable[[], object], *, progress: Progress = quiet, max_rounds: int = 1000) -> ShardOutcomes:
    """The settle run: poll the jobs in flight, run the chain for every shard whose job has
    finished, and again while more finish meanwhile — one process, one model load."""
    outcomes = ShardOutcomes()
    for _ in range(max_rounds):
        poll()
        ready = [shard for shard in shards_ready_to_settle(conn, s)
                 if shard not in outcomes.shards_gated and shard not in outcomes.shards_failed]
        if not ready:
            break
        progress(f"settling {len(ready)} shards: {', '.join(shard_key(x) for x in ready)}")
        run_shards(ready, run_shard, outcomes, progress=progress)
    return outcomes
