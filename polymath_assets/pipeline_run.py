"""Running the whole asset graph from the terminal (the demo): each shard's chain of
assets in one Dagster run, then the QC report, recorded in the Dagster instance."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from polymath_assets.config import Config
from polymath_assets.interrupts import checkpoint
from polymath_assets.shards import shard_key

# One line per shard on the terminal, and a failed step's cause in the summary; the full
# event log (stack traces included) is kept in the instance for the UI.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}

# Said whenever gates hold work back while the emulator stood in for the model: its
# answers come from rules, so a gate failing (or passing) on real text says little.
OFFLINE_GATE_HINT = ("offline emulator: a deterministic stand-in, not a language model; "
                     "gate results on real text only mean something with Gemini")

# canonical_concepts is corpus-wide (unpartitioned) and incremental: in each shard's run
# it resolves what that shard added, before the shard's graph sync.
CHAIN = ("pending_passages", "gemini_batch_jobs", "passage_concepts", "passage_embeddings", "canonical_concepts",
         "neo4j_concept_graph")


@dataclass
class PipelineOutcome:
    shards_ok: list[int] = field(default_factory=list)
    shards_gated: dict[int, list[str]] = field(default_factory=dict)  # shard -> failed checks
    shards_failed: dict[int, str] = field(default_factory=dict)
    qc_verdict: str = ""
    graph_counts: dict[str, int] = field(default_factory=dict)
    offline: bool = False

    @property
    def ok(self) -> bool:
        return not self.shards_failed and not self.shards_gated and self.qc_verdict == "PASS"

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


def shards_with_passages(dsn: str, shard_count: int) -> list[int]:
    from polymath_assets.kb import ledger
    from polymath_assets.kb.db import connect

    with connect(dsn) as conn:
        return ledger.shards_with_passages(conn, shard_count)


def _off_the_main_thread(fn):
    """Run ``fn`` in a worker thread and wait. Dagster's in-process execution turns SIGINT
    and SIGTERM into its own interrupt (losing which one it was) only on the main thread;
    here our handler keeps them, and the run stops at the extraction steps' next safe
    point (interrupts.checkpoint) with the signal's own exit status."""
    import threading

    box: dict = {}

    def work():
        try:
            box["result"] = fn()
        except BaseException as err:  # handed to the main thread below
            box["error"] = err

    worker = threading.Thread(target=work, name="polymath-run-shard", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(timeout=0.5)
    if "error" in box:
        raise box["error"]
    return box["result"]


def run_pipeline(config: Config, *, shards: tuple[int, ...] | None, offline: bool | None,
                 report: Callable[[str], None]) -> PipelineOutcome:
    import dagster as dg

    from polymath_assets.definitions import ASSETS, defs
    from polymath_assets.defs.resources import GeminiResource
    from polymath_assets.graph.reconcile import graph_counts
    from polymath_assets.local import emulator_service
    from polymath_assets.local.services import postgres_dsn

    os.environ.setdefault("DAGSTER_HOME", str(config.home / "dagster"))
    os.makedirs(os.environ["DAGSTER_HOME"], exist_ok=True)
    instance = dg.DagsterInstance.get()
    resources = dict(defs.resources)
    offline = offline if offline is not None else config.offline
    if offline:
        resources["gemini"] = GeminiResource(base_url_override=emulator_service.start(config.home))
    by_name = {a.key.to_user_string(): a for a in ASSETS}
    chain = [by_name[name] for name in CHAIN]
    outcome = PipelineOutcome(offline=offline)
    for shard in shards or shards_with_passages(postgres_dsn(config), config.shard_count):
        checkpoint()  # SIGINT/SIGTERM: no further shard starts (each shard's run is resumable)
        result = _off_the_main_thread(lambda: dg.materialize(
            chain, partition_key=shard_key(shard), instance=instance, resources=resources, raise_on_error=False,
            run_config=QUIET, tags={"polymath/started_by": "polymath run"}))
        failed_checks = [e.check_name for e in result.get_asset_check_evaluations()
                         if not e.passed]
        if failed_checks:
            outcome.shards_gated[shard] = failed_checks
        elif not result.success:
            errors = [step_error(e) for e in result.all_events if e.is_step_failure]
            outcome.shards_failed[shard] = errors[0] if errors else "run failed"
        else:
            outcome.shards_ok.append(shard)
        report(f"{shard_key(shard)}: " + ("ok" if shard in outcome.shards_ok else
                                          f"held back ({', '.join(failed_checks)})" if failed_checks else "FAILED"))
    checkpoint()
    qc_result = dg.materialize([by_name["qc_report"]], instance=instance, resources=resources, raise_on_error=False,
                               run_config=QUIET)
    if qc_result.success:
        metadata = qc_result.asset_materializations_for_node("qc_report")[0].metadata
        outcome.qc_verdict = metadata["verdict"].value
        for key, value in metadata.items():
            if key.startswith("gate: "):
                report(f"  {key[6:]}: {value.value}")
        report(f"QC report: {metadata['report file'].value}")
    with resources["graph"].open() as graph:
        outcome.graph_counts = graph_counts(graph, None)
    report("graph: " + ", ".join(f"{n} {kind}" for kind, n in outcome.graph_counts.items()))
    return outcome
