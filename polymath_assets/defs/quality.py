"""Acceptance gates as blocking asset checks, and the corpus-wide QC report."""

import base64
import warnings

import dagster as dg

from polymath_assets.defs.resources import PostgresResource
from polymath_assets.qc.gates import GATE_CHECKS, GateResult, Thresholds, evaluate, held_back_advice


# Blocking: a shard failing one of these does not flow into embeddings or the graph.
# Partitioned (a preview feature in Dagster 1.13) so that each shard's verdict is its own:
# without it the latest shard's result would stand for the whole asset.
def shard_check(name: str, asset: str, description: str, shards: dg.PartitionsDefinition) -> dg.AssetCheckSpec:
    with warnings.catch_warnings():  # chosen knowingly; the warning would print on every load
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.AssetCheckSpec(name, asset=asset, blocking=True, description=description, partitions_def=shards)


def concept_gate_checks(shards: dg.PartitionsDefinition) -> list[dg.AssetCheckSpec]:
    return [shard_check(name, "passage_concepts", f"Gate: {gate}", shards) for name, gate in GATE_CHECKS.items()]


def concept_gate_results(metrics: dict, thresholds: Thresholds, shard: int) -> list[dg.AssetCheckResult]:
    by_name = {g.name: g for g in evaluate(metrics, thresholds, empty_passes=True)}
    return [_check_result(check, by_name[gate], shard) for check, gate in GATE_CHECKS.items()]


def _check_result(check_name: str, gate: GateResult, shard: int) -> dg.AssetCheckResult:
    metadata = {"value": gate.value, "target": gate.target, "detail": gate.detail}
    if not gate.passed:
        metadata["what to do"] = held_back_advice(shard, [gate.name])
    return dg.AssetCheckResult(check_name=check_name, passed=gate.passed, severity=dg.AssetCheckSeverity.ERROR,
                               metadata=metadata)


def held_back(shard: int, results: list[dg.AssetCheckResult], metadata: dict) -> dg.Failure:
    """The failure that holds a shard back: the partition shows failed, not materialized,
    with the gates' values and what to do. Not retried: the same data fails the same way."""
    failed = [r for r in results if not r.passed]
    gates = [GATE_CHECKS[r.check_name] for r in failed]
    lines = [f"{r.check_name}: {r.metadata['value'].value} (target {r.metadata['target'].value})" for r in failed]
    return dg.Failure(
        description=(f"shard {shard} held back by its gates — " + "; ".join(lines)
                     + f". Its concepts are stored but go no further. What to do: {held_back_advice(shard, gates)}"),
        metadata={**metadata, "held back by": ", ".join(r.check_name for r in failed)},
        allow_retries=False)


def qc_report_asset() -> dg.AssetsDefinition:
    @dg.asset(deps=["passage_concepts", "neo4j_concept_graph"], group_name="quality", kinds={"markdown"})
    def qc_report(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
        """The QC report for the whole corpus: gate values and verdicts, every shard held back
        by a gate with what to do, alignment, concepts per passage, type distribution against
        the other extractor versions, cost; markdown and a chart written to the run-log
        folder and shown here. Materialized by the settle run once nothing is waiting or in
        flight, and at the end of `polymath run`."""
        from polymath_assets.extraction.runner import ExtractionSettings
        from polymath_assets.operations.status import corpus_status
        from polymath_assets.qc.report import write_extraction_report

        config = postgres.config()
        with postgres.connect() as conn:
            report = write_extraction_report(conn, ExtractionSettings.from_config(config), config.runlog_dir,
                                             label="corpus", thresholds=Thresholds.from_config(config),
                                             per_shard=True)
            status = corpus_status(conn, config)
        chart = base64.b64encode(report.chart.read_bytes()).decode()
        shown = report.markdown.replace(f"]({report.chart.name})", f"](data:image/png;base64,{chart})")
        held = {f"shard-{s:03d}": {"gates": names, "what to do": held_back_advice(s, names)}
                for s, names in (report.failing_shards or {}).items() if names}
        return dg.MaterializeResult(metadata={
            "verdict": "PASS" if report.passed else "FAIL",
            "shards held back": dg.MetadataValue.json(held),
            "passages by state": dg.MetadataValue.json(status.totals),
            **{f"gate: {g.name}": f"{'PASS' if g.passed else 'FAIL'} — {g.value}" for g in report.gates},
            "report": dg.MetadataValue.md(shown),
            "report file": dg.MetadataValue.path(str(report.path)),
            "chart file": dg.MetadataValue.path(str(report.chart)),
        })

    return qc_report
