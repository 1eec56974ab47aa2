"""The asset graph as text, one fact a line: assets (group, kinds, pools, partitions,
upstream, automation condition, description), checks (blocking or not, description),
jobs and sensors. Committed as a snapshot (polymath_assets_tests/snapshots/) so that a
change to the graph is a visible diff in review."""

from __future__ import annotations

import dagster as dg


def _condition(condition, depth: int = 2) -> list[str]:
    if condition is None:
        return []
    label = condition.get_label()
    lines = ["  " * depth + type(condition).__name__ + (f" [{label}]" if label else "")]
    for child in getattr(condition, "children", ()):
        lines += _condition(child, depth + 1)
    return lines


def _partitions(partitions_def) -> str:
    if partitions_def is None:
        return "unpartitioned"
    keys = partitions_def.get_partition_keys()
    return f"{type(partitions_def).__name__} {len(keys)} ({keys[0]} .. {keys[-1]})" if keys else "no keys"


def _backfill_policy(policy) -> str:
    if policy is None:
        return "-"
    return "single run" if policy.max_partitions_per_run is None else f"{policy.max_partitions_per_run} per run"


def _text(text: str | None) -> str:
    return " ".join((text or "").split()) or "-"


def graph_snapshot(defs: dg.Definitions) -> str:
    graph = defs.resolve_asset_graph()
    lines = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        lines += [
            f"asset {key.to_user_string()}",
            f"  group: {node.group_name}",
            f"  kinds: {', '.join(sorted(node.kinds)) or '-'}",
            f"  pools: {', '.join(sorted(node.pools)) or '-'}",
            f"  partitions: {_partitions(node.partitions_def)}",
            f"  backfill policy: {_backfill_policy(node.backfill_policy)}",
            f"  upstream: {', '.join(sorted(k.to_user_string() for k in node.parent_keys)) or '-'}",
            f"  description: {_text(node.description)}",
            "  automation condition:" + ("" if node.automation_condition else " none"),
            *_condition(node.automation_condition),
        ]
    specs = [spec for assets_def in graph.assets_defs for spec in assets_def.check_specs]
    for spec in sorted(specs, key=lambda s: (s.asset_key.to_user_string(), s.name)):
        lines += [f"check {spec.asset_key.to_user_string()}:{spec.name}",
                  f"  blocking: {spec.blocking}",
                  f"  description: {_text(spec.description)}"]
    for job in sorted(defs.jobs or [], key=lambda j: j.name):
        lines.append(f"job {job.name}: {_text(getattr(job, 'description', None))}")
    for sensor in sorted(defs.sensors or [], key=lambda s: s.name):
        lines.append(f"sensor {sensor.name}: jobs {', '.join(sorted(j.name for j in sensor.jobs))}; "
                     f"every {sensor.minimum_interval_seconds}s; default {sensor.default_status.value}")
    return "\n".join(lines) + "\n"
