"""Acceptance gates as blocking asset checks, and the corpus-wide QC report."""

import base64
import warnings

import dagster as dg

from polymath_assets.defs.partitions import shard_partitions
from polymath_assets.defs.resources import PostgresResource
from polymath_assets.qc.gates import GATE_CHECKS, GateResult, Thresholds, evaluate


# Blocking: a shard failing one of these does not flow into embeddings or the graph.
# Partitioned (a preview feature in Dagster 1.13) so that each shard's verdict is its own:
# without it the latest shard's result would stand for the whole asset.
def shard_check(name: str, asset: str, description: str) -> dg.AssetCheckSpec:
    with warnings.catch_warnings():  # chosen knowingly; the warning would print on every load
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.AssetCheckSpec(name, asset=asset, blocking=True, description=description,
                                 partitions_def=shard_partitions)


CONCEPT_GATE_CHECKS = [shard_check(name, "passage_concepts", f"Gate: {gate}") for name, gate in GATE_CHECKS.items()]


def concept_gate_results(metrics: dict, thresholds: Thresholds) -> list[dg.AssetCheckResult]:
    by_name = {g.name: g for g in evaluate(metrics, thresholds, empty_passes=True)}
    return [_check_result(check, by_name[gate]) for check, gate in GATE_CHECKS.items()]


def _check_result(check_name: str, gate: GateResult) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=check_name, passed=gate.passed, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"value": gate.value, "target": gate.target, "detail": gate.detail},
    )


@dg.asset(deps=["passage_concepts", "neo4j_concept_graph"], group_name="quality", kinds={"markdown"})
def qc_report(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    """The QC report for the whole corpus: gate values and verdicts, alignment, concepts per
    passage, type distribution against the other extractor versions, cost; markdown and a
    chart written to the run-log folder and shown here."""
    from polymath_assets.extraction.runner import ExtractionSettings
    from polymath_assets.qc.report import write_extraction_report

    config = postgres.config()
    with postgres.connect() as conn:
        report = write_extraction_report(conn, ExtractionSettings.from_config(config), config.runlog_dir,
                                         label="corpus", thresholds=Thresholds.from_config(config),
                                         per_shard=True)
    chart = base64.b64encode(report.chart.read_bytes()).decode()
    shown = report.markdown.replace(f"]({report.chart.name})", f"](data:image/png;base64,{chart})")
    return dg.MaterializeResult(metadata={
        "verdict": "PASS" if report.passed else "FAIL",
        "shards failing a gate": dg.MetadataValue.json(
            {f"shard-{s:03d}": names for s, names in (report.failing_shards or {}).items() if names}),
        **{f"gate: {g.name}": f"{'PASS' if g.passed else 'FAIL'} — {g.value}" for g in report.gates},
        "report": dg.MetadataValue.md(shown),
        "report file": dg.MetadataValue.path(str(report.path)),
        "chart file": dg.MetadataValue.path(str(report.chart)),
    })
