"""Acceptance gates (SPEC §4) as pure functions of the metrics. Thresholds are configuration."""

from __future__ import annotations

from dataclasses import dataclass

from polymath_assets.config import Config


@dataclass(frozen=True)
class Thresholds:
    evidence_min: float = 0.99
    concepts_min: float = 4.0
    concepts_max: float = 14.0
    parse_failure_max: float = 0.01

    @classmethod
    def from_config(cls, config: Config) -> "Thresholds":
        return cls(config.gate_evidence_min, config.gate_concepts_min, config.gate_concepts_max,
                   config.gate_parse_failure_max)


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    value: str
    target: str
    detail: str = ""


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


GATE_CHECKS = {  # asset-check name -> gate name: the four gates, checked per shard
    "evidence_present": "evidence present",
    "concepts_per_passage": "concepts per passage",
    "json_parse_failures": "JSON parse failures",
    "resume_safety": "resume safety (ledger reconciles)",
}


def evaluate(metrics: dict, t: Thresholds, *, empty_passes: bool = False) -> list[GateResult]:
    """The four gates. With ``empty_passes`` (a shard check), a scope where nothing has
    been extracted yet passes: there is nothing for it to let through."""
    if empty_passes and not metrics["passages_done"] and not metrics["lines"]:
        return [GateResult(name, True, "nothing extracted yet", "-") for name in
                ("evidence present", "concepts per passage", "JSON parse failures",
                 "resume safety (ledger reconciles)")]
    concepts = metrics["concepts"]
    evidence = _share(metrics["located"], concepts)
    aligned = _share(metrics["aligned"], concepts)
    mean = metrics["mean"] or 0.0
    lines = metrics["lines"]
    parse_rate = _share(metrics["parse_errors"], lines)
    return [
        GateResult("evidence present", concepts > 0 and evidence >= t.evidence_min,
                   f"{evidence:.2%} of {concepts} concepts have a quote located in the passage",
                   f"≥ {t.evidence_min:.0%}", f"aligned share {aligned:.2%} {metrics['alignment']}"),
        GateResult("concepts per passage", metrics["passages_done"] > 0 and t.concepts_min <= mean <= t.concepts_max,
                   f"mean {mean:.2f} (P10 {metrics['p10'] or 0:.1f}, P90 {metrics['p90'] or 0:.1f}) "
                   f"over {metrics['passages_done']} passages", f"{t.concepts_min:g}–{t.concepts_max:g}"),
        GateResult("JSON parse failures", lines > 0 and parse_rate <= t.parse_failure_max,
                   f"{parse_rate:.2%} of {lines} responses", f"≤ {t.parse_failure_max:.0%}"),
        GateResult("resume safety (ledger reconciles)",
                   metrics["mismatched"] == 0 and metrics["orphaned"] == 0,
                   f"{metrics['mismatched']} passages whose rows ≠ recorded count, "
                   f"{metrics['orphaned']} in flight without a live job", "0 and 0",
                   "no lost and no duplicated rows"),
    ]


def warnings(metrics: dict) -> list[str]:
    found = []
    if metrics["long_names"]:
        found.append(f"{metrics['long_names']} concept names longer than 60 characters (likely garbage)")
    requests = sum(metrics["states"].values())
    if metrics["request_errors"]:
        found.append(f"request error rate {_share(metrics['request_errors'], metrics['lines'] or 1):.2%} "
                     f"({metrics['request_errors']} failed requests; they are resubmitted)")
    if metrics["states"].get("dead"):
        found.append(f"{metrics['states']['dead']} of {requests} passages are dead after repeated failures")
    if metrics["estimated_usd"] and metrics["actual_usd"] > 1.5 * metrics["estimated_usd"]:
        found.append(f"actual cost ${metrics['actual_usd']:.4f} is over 1.5× the estimate ${metrics['estimated_usd']:.4f}")
    return found


# What an operator does about a shard held back by each gate (asset-check metadata, the
# failed partition's message, the QC report).
GATE_ADVICE = {
    "evidence present": "concepts whose quote or span could not be located in the passage: "
                        "`polymath repair --shard {shard}` (or the repair job, shard {shard}) asks the model again for those "
                        "alone, then carries the shard on",
    "concepts per passage": "the mean is outside the band: read the QC report's chart and type table; a prompt or "
                            "model problem is compared on a pilot (`polymath pilot --compare A,B`), then the shard "
                            "re-extracted (`polymath rollback` of the version, or a new extractor version)",
    "JSON parse failures": "answers that did not parse or were cut off: `polymath repair --shard {shard}` (or the "
                           "repair job, shard {shard}) asks again for those passages alone",
    "resume safety (ledger reconciles)": "stored rows disagree with the ledger: run `polymath run --shard {shard}` "
                                         "again (it resumes); if it persists, keep the logs and report it",
}


def held_back_advice(shard: int, failed_gates: list[str]) -> str:
    """What to do about a held-back shard, one clause per failed gate."""
    return "; ".join(GATE_ADVICE[name].format(shard=shard) for name in failed_gates)
