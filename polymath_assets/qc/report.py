"""The QC report: gate verdicts and the numbers behind them, as markdown in the run-log folder."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import psycopg

from polymath_assets.kb.quality import (
    concepts_per_passage,
    extraction_metrics,
    extraction_metrics_by_shard,
    type_distribution,
)
from polymath_assets.qc.chart import render_chart
from polymath_assets.qc.gates import GateResult, Thresholds, evaluate, warnings


@dataclass
class Report:
    path: Path
    chart: Path
    gates: list[GateResult]
    warnings: list[str]
    metrics: dict
    markdown: str
    failing_shards: dict[int, list[str]] | None = None  # shard -> failed gates (corpus reports)

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    def verdict_lines(self) -> str:
        lines = [f"  {'PASS' if g.passed else 'FAIL'}  {g.name}: {g.value} (target {g.target})" for g in self.gates]
        lines += [f"  WARN  {w}" for w in self.warnings]
        return "\n".join(lines)


def shard_verdicts(by_shard: dict[int, dict], thresholds: Thresholds) -> dict[int, list[str]]:
    """shard -> names of the gates it fails (empty list: passes), from one grouped pass."""
    return {shard: [g.name for g in evaluate(m, thresholds, empty_passes=True) if not g.passed]
            for shard, m in sorted(by_shard.items())}


def render_markdown(title: str, metrics: dict, gates: list[GateResult], warns: list[str],
                    types: dict[str, dict[str, int]], generated: datetime, chart_name: str | None = None,
                    shards: dict[int, list[str]] | None = None) -> str:
    version = metrics["extractor_version"]
    lines = [
        f"# {title}",
        "",
        f"Extractor version `{version}` · generated {generated:%Y-%m-%d %H:%M:%S} UTC · "
        f"verdict **{'PASS' if all(g.passed for g in gates) else 'FAIL'}**",
        "",
        "## Acceptance gates",
        "",
        "| gate | verdict | value | target | detail |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {g.name} | {'PASS' if g.passed else 'FAIL'} | {g.value} | {g.target} | {g.detail} |" for g in gates]
    if chart_name:
        lines += ["", f"![QC chart]({chart_name})"]
    if shards is not None:
        failing = {s: names for s, names in shards.items() if names}
        lines += ["", "## Shards", "",
                  f"{len(shards) - len(failing)} of {len(shards)} shards with work pass every gate.", ""]
        if failing:
            lines += ["| shard | failed gates |", "|---|---|"]
            lines += [f"| shard-{s:03d} | {', '.join(names)} |" for s, names in failing.items()]
    lines += ["", "## Passages", "", "| state | passages |", "|---|---|"]
    lines += [f"| {state} | {n} |" for state, n in sorted(metrics["states"].items())]
    lines += ["", "## Evidence alignment", "", "| alignment | concepts |", "|---|---|"]
    lines += [f"| {status} | {n} |" for status, n in sorted(metrics["alignment"].items())]
    lines += ["", "## Concept types by extractor version", ""]
    all_types = sorted({t for counts in types.values() for t in counts})
    lines += ["| type | " + " | ".join(types) + " |", "|---|" + "---|" * len(types)]
    for ctype in all_types:
        cells = []
        for counts in types.values():
            total = sum(counts.values()) or 1
            cells.append(f"{counts.get(ctype, 0)} ({counts.get(ctype, 0) / total:.0%})")
        lines.append(f"| {ctype} | " + " | ".join(cells) + " |")
    lines += ["", "## Cost and responses", "",
              f"- responses: {metrics['lines']}, parse failures {metrics['parse_errors']}, "
              f"failed requests {metrics['request_errors']}",
              f"- cost: estimated ${metrics['estimated_usd']:.4f}, actual ${metrics['actual_usd']:.4f}",
              "", "## Warnings", ""]
    lines += [f"- {w}" for w in warns] or ["- none"]
    return "\n".join(lines) + "\n"


def write_extraction_report(conn: psycopg.Connection, settings, runlog_dir: Path, *, label: str,
                            thresholds: Thresholds | None = None, shard: int | None = None,
                            per_shard: bool = False) -> Report:
    """``per_shard`` adds each shard's gate verdicts (one grouped pass over the tables)."""
    thresholds = thresholds or Thresholds()
    metrics = extraction_metrics(conn, settings.version, shard)
    shards = shard_verdicts(extraction_metrics_by_shard(conn, settings.version), thresholds) if per_shard else None
    gates = evaluate(metrics, thresholds)
    warns = warnings(metrics)
    types = type_distribution(conn)
    generated = datetime.now(timezone.utc)
    runlog_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{label}_qc_{settings.version}_{generated:%Y%m%dT%H%M%S}"
    chart = render_chart(runlog_dir / f"{stem}.png",
                         concepts_per_passage=concepts_per_passage(conn, settings.version, shard),
                         alignment=metrics["alignment"], types=types,
                         concepts_band=(thresholds.concepts_min, thresholds.concepts_max))
    markdown = render_markdown(f"QC report: {label}", metrics, gates, warns, types, generated, chart.name, shards)
    path = runlog_dir / f"{stem}.md"
    path.write_text(markdown)
    return Report(path, chart, gates, warns, metrics, markdown, shards)
