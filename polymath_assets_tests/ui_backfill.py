"""The operator's path through the Dagster UI, driven over the webserver's GraphQL: ``dagster
dev`` (webserver and daemon: backfills, the sensor, the run queue) on a fresh home, a
partition backfill launched with ``launchPartitionBackfill`` as the UI does, and what the
UI then shows — partition statuses, the QC report's materialization, the sensor's ticks.

Shared by the slow test (``test_ui_backfill.py``) and the benchmark
(``benchmarks/ui_backfill_bench.py``)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from polymath_assets_tests.ui_support import LOCATION, REPO, REPOSITORY, GraphQLClient, GraphQLError, Webserver

# What the README's runbook says to backfill: selection and submission of every shard.
BACKFILL_ASSETS = ["pending_passages", "gemini_batch_jobs"]

LAUNCH_BACKFILL = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) { __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on Error { message } } }"""

BACKFILL = """
query Backfill($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
    ... on PartitionBackfill { id status numPartitions runs { runId status jobName } }
    ... on Error { message } } }"""

PARTITION_STATUS = """
query Status($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { __typename
    ... on AssetNode { assetPartitionStatuses { __typename
        ... on DefaultPartitionStatuses { materializedPartitions failedPartitions materializingPartitions
                                          unmaterializedPartitions } } } } }"""

LATEST_MATERIALIZATION = """
query Latest($key: AssetKeyInput!) { assetOrError(assetKey: $key) { __typename
    ... on Asset { assetMaterializations(limit: 1) { runId timestamp
        metadataEntries { label __typename ... on TextMetadataEntry { text } ... on JsonMetadataEntry { jsonString }
                          ... on PathMetadataEntry { path } } } } } }"""

RUNS = """
query Runs { runsOrError(limit: 1000) { __typename
    ... on Runs { results { runId jobName status tags { key value } startTime endTime } } } }"""

SENSOR_TICKS = """
query Ticks($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) { __typename
    ... on Sensor { sensorState { status ticks(limit: 50) { status timestamp skipReason runKeys
        logEvents { events { message } } } } }
    ... on Error { message } } }"""


def write_home(home: Path, max_concurrent_runs: int | None = None) -> Path:
    """A fresh DAGSTER_HOME with the project's local dagster.yaml (its run queue and pools),
    the community dialog off so it does not cover screenshots."""
    home.mkdir(parents=True, exist_ok=True)
    settings = yaml.safe_load((REPO / "dagster.yaml").read_text()) or {}
    settings["nux"] = {"enabled": False}
    if max_concurrent_runs is not None:
        settings.setdefault("concurrency", {}).setdefault("runs", {})["max_concurrent_runs"] = max_concurrent_runs
    (home / "dagster.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    return home


class DagsterDev(Webserver):
    """``dagster dev -w workspace.yaml`` (webserver + daemon) in its own process group, so
    stopping it stops its code server, daemon and run workers too."""

    command = ("dagster", "dev")


def launch_backfill(client: GraphQLClient, assets: list[str] = BACKFILL_ASSETS) -> str:
    """What the UI's "Materialize all partitions" of the selected assets sends."""
    params = {"assetSelection": [{"path": [name]} for name in assets], "allPartitions": True}
    answer = client(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    if answer["__typename"] != "LaunchBackfillSuccess":
        raise GraphQLError(f"launchPartitionBackfill answered {json.dumps(answer)[:3000]}")
    return answer["backfillId"]


def backfill(client: GraphQLClient, backfill_id: str) -> dict:
    return client(BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]


@dataclass
class PartitionStatus:
    materialized: set[str]
    failed: set[str]
    in_progress: set[str]


def partition_status(client: GraphQLClient, asset: str) -> PartitionStatus:
    """What the asset's partitions view shows (the same field the UI reads)."""
    node = client(PARTITION_STATUS, {"key": {"path": [asset]}})["assetNodeOrError"]
    found = node["assetPartitionStatuses"]
    return PartitionStatus(set(found["materializedPartitions"]), set(found["failedPartitions"]),
                           set(found["materializingPartitions"]))


def latest_materialization(client: GraphQLClient, asset: str) -> dict | None:
    """{run_id, timestamp, metadata: {label: value}} of the asset's latest materialization."""
    answer = client(LATEST_MATERIALIZATION, {"key": {"path": [asset]}})["assetOrError"]
    events = answer.get("assetMaterializations") or []
    if not events:
        return None
    entries = {}
    for entry in events[0]["metadataEntries"]:
        value = entry.get("text") or entry.get("path")
        if entry.get("jsonString") is not None:
            value = json.loads(entry["jsonString"])
        entries[entry["label"]] = value
    return {"run_id": events[0]["runId"], "timestamp": float(events[0]["timestamp"]) / 1000, "metadata": entries}


def runs(client: GraphQLClient) -> list[dict]:
    return client(RUNS)["runsOrError"]["results"]


def sensor_ticks(client: GraphQLClient, sensor: str = "batch_completion_sensor") -> list[dict]:
    selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "sensorName": sensor}
    return client(SENSOR_TICKS, {"selector": selector})["sensorOrError"]["sensorState"]["ticks"]


def wait_for_report(client: GraphQLClient, after: float, timeout_s: float, context: Callable[[], str]) -> dict:
    """The qc_report materialization that comes by itself after ``after`` (a time.time())."""
    def report_after():
        found = latest_materialization(client, "qc_report")
        return found if found and found["timestamp"] >= after else None

    return wait_for("qc_report materialized by itself", report_after, timeout_s, context=context)


def wait_for(what: str, condition: Callable[[], object], timeout_s: float, interval_s: float = 2.0,
             context: Callable[[], str] = lambda: "") -> object:
    """Poll ``condition`` until it returns something true; that value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(interval_s)
    raise TimeoutError(f"{what}: not after {timeout_s:.0f}s\n{context()}")
