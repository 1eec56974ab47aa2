"""Executing shard runs in this process: each shard's chain of assets materialized as its
own run in the Dagster instance (so the UI shows every shard's run, its checks and its
partition status), one after another, with the embedding model loaded once.

Used by `polymath run` (``run_pipeline``) and by the settle run the batch-completion
sensor launches (``defs/jobs.py``). Each shard's run is tagged with the process that
executes it: a run left "started" by a process that died (SIGKILL) is marked failed the
next time either starts, so it never looks busy forever.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import dagster as dg
from dagster._core.execution.backfill import BULK_ACTION_TERMINAL_STATUSES
from dagster._core.storage.tags import BACKFILL_ID_TAG

from polymath_assets.config import Config
from polymath_assets.kb import control
from polymath_assets.operations.shard_runs import ShardOutcomes, ShardRun
from polymath_assets.shards import shard_key

# One line per shard on the terminal, and a failed step's cause in the summary; the full
# event log (stack traces included) is kept in the instance for the UI.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}

SHARD_RUN_TAG = "polymath/shard_run"  # "1" on every run this module executes
OWNER_TAG = "polymath/owner"          # host:pid:uuid of the process executing it
STARTED_BY_TAG = "polymath/started_by"

# canonical_concepts is corpus-wide (unpartitioned) and incremental: in each shard's run
# it resolves what that shard added, before the shard's graph sync.
SETTLE_CHAIN = ("passage_concepts", "passage_embeddings", "canonical_concepts", "neo4j_concept_graph")
FULL_CHAIN = ("pending_passages", "gemini_batch_jobs", *SETTLE_CHAIN)

_UNFINISHED = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def step_error(event) -> str:
    """A failed step's own error, e.g. ``GraphUnavailable: cannot reach the graph server …
    Start the embedded server with `polymath services up` …`` — not Dagster's wrapper
    ("Execution of step … failed.")."""
    error = event.step_failure_data.error
    if error is None:
        return event.message
    while error.cause is not None and error.cls_name.startswith("Dagster"):
        error = error.cause
    head, _, text = error.message.strip().partition(": ")  # "module.Class: text"
    return f"{error.cls_name}: {text if head.endswith(error.cls_name) else error.message.strip()}"


def fail_orphaned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the shard runs whose executing process is gone (killed mid-run)."""
    orphans = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=_UNFINISHED, tags={SHARD_RUN_TAG: "1"})):
        run = record.dagster_run
        if control.owner_is_gone(run.tags.get(OWNER_TAG)):
            instance.report_run_failed(run, "the process executing this run is gone; the next settle run or "
                                            "`polymath run` takes the shard up again")
            orphans.append(run.run_id)
    return orphans


def backfill_of(instance: dg.DagsterInstance, job_owner: str | None) -> dict[str, str]:
    """The backfill tag of the run that submitted a shard's job (its owner names the run),
    once that backfill has finished: the shard's run then shows on the backfill's page
    beside the submission, held back or not. (While a backfill is in progress its daemon
    reads the runs it tagged, so a run of other assets is not added to it then.)"""
    run_id = (job_owner or "").partition(":dagster-")[2]
    run = instance.get_run_by_id(run_id) if run_id else None
    backfill_id = run.tags.get(BACKFILL_ID_TAG) if run else None
    backfill = instance.get_backfill(backfill_id) if backfill_id else None
    return {BACKFILL_ID_TAG: backfill_id} if backfill and backfill.status in BULK_ACTION_TERMINAL_STATUSES else {}


def _run_here(tags: Mapping[str, str]) -> dict[str, str]:
    """Tags of a run this process executes (see fail_orphaned_runs)."""
    return {**tags, SHARD_RUN_TAG: "1", OWNER_TAG: control.process_owner()}


class PoolWatch:
    """Hands a free pool slot to the step waiting for it, when Dagster's own hand-over was lost.

    Dagster 1.13's op-concurrency claim is not atomic across processes: a step checks for a
    free slot, then queues itself; if another process frees its slot between the two, the
    hand-over (``assign_pending_steps``) runs before the step is queued, and the step then
    waits for a free slot forever (seen with two settle runs at once). This thread, alive
    while a process executes shard runs, assigns a waiting step whenever a pool has more
    slots than assigned steps — what the hand-over would have done."""

    def __init__(self, instance: dg.DagsterInstance, pools: set[str], every_s: float = 2.0):
        self.storage, self.pools, self.every_s = instance.event_log_storage, sorted(pools), every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="polymath-pool-watch", daemon=True)

    def __enter__(self) -> "PoolWatch":
        if self.pools and self.storage.supports_global_concurrency_limits:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()

    def _watch(self) -> None:
        while not self._stop.wait(self.every_s):
            for pool in self.pools:
                try:
                    info = self.storage.get_concurrency_info(pool)
                    if info.pending_steps and any(not p.assigned_timestamp for p in info.pending_steps) \
                            and self.storage.has_unassigned_slots(pool):
                        self.storage.assign_pending_steps([pool])
                except Exception:  # noqa: BLE001 - a watch that fails must not fail the run it watches
                    pass


class ShardRunner:
    """``runner(shard) -> ShardRun``: materialize ``chain`` for one shard partition.
    ``shard_tags(shard)`` adds tags of the shard's own (its backfill's)."""

    def __init__(self, instance: dg.DagsterInstance, assets: Sequence[dg.AssetsDefinition], chain: Sequence[str],
                 resources: Mapping[str, object], tags: Mapping[str, str],
                 shard_tags: Callable[[int], Mapping[str, str]] = lambda _: {}):
        by_name = {a.key.to_user_string(): a for a in assets}
        self.instance = instance
        self.chain = [by_name[name] for name in chain]
        self.resources = dict(resources)
        self.tags = _run_here(tags)
        self.shard_tags = shard_tags

    def __call__(self, shard: int) -> ShardRun:
        with warnings.catch_warnings():
            # One partition per run on purpose: the submission assets' single-run backfill
            # policy (for ranges) has nothing to say about it.
            warnings.filterwarnings("ignore", message=".*varying BackfillPolicies.*")
            with PoolWatch(self.instance, {a.op.pool for a in self.chain if a.op.pool}):
                result = dg.materialize(self.chain, partition_key=shard_key(shard), instance=self.instance,
                                        resources=self.resources, raise_on_error=False, run_config=QUIET,
                                        tags={**self.tags, **self.shard_tags(shard)})
        failed = tuple(e.check_name for e in result.get_asset_check_evaluations() if not e.passed and
                       e.severity == dg.AssetCheckSeverity.ERROR)
        errors = [step_error(e) for e in result.all_events if e.is_step_failure]
        return ShardRun(shard, result.success, failed, None if result.success else (errors[0] if errors else "run failed"))


def materialize_report(instance: dg.DagsterInstance, assets: Sequence[dg.AssetsDefinition],
                       resources: Mapping[str, object], tags: Mapping[str, str],
                       progress: Callable[[str], None]) -> str:
    """The corpus QC report as its own run; its verdict ("PASS"/"FAIL"), or "" if it failed."""
    report = [a for a in assets if a.key.to_user_string() == "qc_report"]
    result = dg.materialize(report, instance=instance, resources=dict(resources), raise_on_error=False,
                            run_config=QUIET, tags=_run_here(tags))
    if not result.success:
        errors = [step_error(e) for e in result.all_events if e.is_step_failure]
        progress(f"QC report failed: {errors[0] if errors else 'run failed'}")
        return ""
    metadata = result.asset_materializations_for_node("qc_report")[0].metadata
    for key, value in metadata.items():
        if key.startswith("gate: "):
            progress(f"  {key[6:]}: {value.value}")
    progress(f"QC report: {metadata['report file'].value}")
    return metadata["verdict"].value


def _off_the_main_thread(fn):
    """Run ``fn`` in a worker thread and wait. Dagster's in-process execution turns SIGINT
    and SIGTERM into its own interrupt (losing which one it was) only on the main thread;
    here our handler keeps them, and the run stops at the extraction steps' next safe
    point (interrupts.checkpoint) with the signal's own exit status."""
    box: dict = {}

    def work():
        try:
            box["result"] = fn()
        except BaseException as err:  # handed to the main thread below
            box["error"] = err

    worker = threading.Thread(target=work, name="polymath-run", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(timeout=0.5)
    if "error" in box:
        raise box["error"]
    return box["result"]


# The instance settings a terminal command needs when DAGSTER_HOME has none (the repository's
# dagster.yaml says the same for `make dev`): the pools' limit of one, no telemetry.
LOCAL_INSTANCE = "concurrency:\n  pools:\n    default_limit: 1\ntelemetry:\n  enabled: false\n"


def local_instance(config: Config) -> dg.DagsterInstance:
    """The Dagster instance of a terminal command: DAGSTER_HOME, or one under POLYMATH_HOME
    (given the pools' limits when it has no dagster.yaml)."""
    os.environ.setdefault("DAGSTER_HOME", str(config.home / "dagster"))
    from polymath_assets.local.state import locked

    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    # Two commands opening a new home at once would both create its SQLite storage (one
    # then fails on "table already exists"): the first creates it, the second waits.
    with locked(home / ".polymath-init.lock"):
        if not (home / "dagster.yaml").exists():
            (home / "dagster.yaml").write_text(LOCAL_INSTANCE)
        instance = dg.DagsterInstance.get()
        # Storages are created on first use: all of them exist before the lock is released.
        instance.get_runs(limit=1)
        instance.event_log_storage.get_asset_records()
        instance.schedule_storage.all_instigator_state()
    return instance


def run_chains(instance: dg.DagsterInstance, assets: Sequence[dg.AssetsDefinition], resources: Mapping[str, object],
               tags: Mapping[str, str], shards: list[int], chain: Sequence[str], progress: Callable[[str], None],
               outcomes: ShardOutcomes | None = None) -> ShardOutcomes:
    """Each shard's ``chain`` as its own run, then the corpus QC report."""
    from polymath_assets.operations.shard_runs import run_shards

    outcomes = run_shards(shards, ShardRunner(instance, assets, chain, resources, tags), outcomes or ShardOutcomes(),
                          progress=progress)
    outcomes.qc_verdict = materialize_report(instance, assets, resources, tags, progress)
    return outcomes


def _terminal(config: Config, offline: bool | None):
    """What a terminal command runs shard runs with: (its config, offline or not, its Dagster
    instance, the assets and the resources of its definitions)."""
    from dataclasses import replace

    from polymath_assets.definitions import build_definitions

    config = replace(config, offline=offline if offline is not None else config.offline)
    defs = build_definitions(config)
    return config, local_instance(config), list(defs.assets), dict(defs.resources)


def run_pipeline(config: Config, *, shards: tuple[int, ...] | None, offline: bool | None,
                 progress: Callable[[str], None]) -> ShardOutcomes:
    """`polymath run`: every shard's whole chain (selection to graph) as its own run, then
    the corpus QC report — recorded in the Dagster instance at DAGSTER_HOME."""
    from polymath_assets.graph.reconcile import graph_counts
    from polymath_assets.kb import ledger
    from polymath_assets.kb.db import connect
    from polymath_assets.local.services import postgres_dsn

    config, instance, assets, resources = _terminal(config, offline)
    fail_orphaned_runs(instance)
    if not shards:
        with connect(postgres_dsn(config)) as conn:
            shards = tuple(ledger.shards_with_passages(conn, config.shard_count))
    outcomes = _off_the_main_thread(lambda: run_chains(
        instance, assets, resources, {STARTED_BY_TAG: "polymath run"}, list(shards), FULL_CHAIN, progress,
        ShardOutcomes(offline=config.offline)))
    with resources["graph"].open() as graph:
        outcomes.graph_counts = graph_counts(graph, None)
    progress("graph: " + ", ".join(f"{n} {kind}" for kind, n in outcomes.graph_counts.items()))
    return outcomes


def repair_and_carry_on(conn, client, settings, config: Config, shard: int | None, *,
                        instance: dg.DagsterInstance, assets: Sequence[dg.AssetsDefinition],
                        resources: Mapping[str, object], tags: Mapping[str, str], poll_interval_s: float,
                        timeout_s: float | None, progress: Callable[[str], None]):
    """One repair round, then the chain for every shard that was held back and passes now
    (its concepts accepted, embedded, resolved and projected) and the corpus QC report —
    `polymath repair` and the `repair` job. (repair result, outcomes of the shards carried on)."""
    from polymath_assets.operations.repair import repair
    from polymath_assets.qc.gates import Thresholds

    result = repair(conn, client, settings, shard, max_attempts=config.repair_max_attempts,
                    thresholds=Thresholds.from_config(config), poll_interval_s=poll_interval_s, timeout_s=timeout_s,
                    progress=progress)
    for line in result.lines():
        progress(line)
    if not result.repaired_shards:
        return result, ShardOutcomes()
    return result, run_chains(instance, assets, resources, tags, result.repaired_shards, SETTLE_CHAIN, progress)


def repair_from_the_terminal(config: Config, *, shard: int | None, offline: bool | None, poll_interval_s: float,
                             timeout_s: float | None, progress: Callable[[str], None]):
    """`polymath repair`: ``repair_and_carry_on`` in this process's Dagster instance."""
    from polymath_assets.extraction.runner import ExtractionSettings
    from polymath_assets.kb.db import connect
    from polymath_assets.local.services import batch_client, postgres_dsn

    config, instance, assets, resources = _terminal(config, offline)
    with connect(postgres_dsn(config)) as conn:
        return _off_the_main_thread(lambda: repair_and_carry_on(
            conn, batch_client(config), ExtractionSettings.from_config(config), config, shard, instance=instance,
            assets=assets, resources=resources, tags={STARTED_BY_TAG: "polymath repair"},
            poll_interval_s=poll_interval_s, timeout_s=timeout_s, progress=progress))
