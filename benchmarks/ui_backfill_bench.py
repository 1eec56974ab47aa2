"""The operator's path against the terminal's: a partition backfill launched from the Dagster
UI (``launchPartitionBackfill`` over the webserver's GraphQL, as the UI sends it, with the
daemon and the batch-completion sensor on) against ``polymath run``, on the same real
corpus (the 500 SciERC abstracts), offline, each in a fresh home.

The UI path is done when ``qc_report`` has materialized by itself after the launch and every
selected passage is done, dead or held back in its shard. Then the same backfill is launched
again: it must finish quickly and pay nothing. Printed: wall times and their ratio, the runs
the UI path launched, the requests the emulator received against the passages.

    python benchmarks/ui_backfill_bench.py [--abstracts 500] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not an installed copy

from polymath_assets.local.state import free_port  # noqa: E402
from polymath_assets_tests import ui_backfill as ui  # noqa: E402
from polymath_assets_tests.emulator_reads import service_submissions  # noqa: E402
from polymath_assets_tests.real_text import write_scierc_corpus  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
POLYMATH = str(REPO / ".venv" / "bin" / "polymath")
OFFLINE = {"POLYMATH_OFFLINE": "1", "POLYMATH_EMBEDDING_MODEL": "packaged-minilm", "POLYMATH_EMBEDDING_DIM": "384",
           "POLYMATH_EMBEDDING_DEVICE": "cpu", "HF_HUB_OFFLINE": "1"}


def bench(name: str, value: float, unit: str) -> None:
    print(f"BENCH {name} {value:.4g} {unit}", flush=True)


def environment(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYMATH_", "POSTGRES_DSN", "NEO4J_"))}
    return {**env, **OFFLINE, "POLYMATH_HOME": str(root / "home"), "DAGSTER_HOME": str(root / "dagster"),
            "POLYMATH_RUNLOG_DIR": str(root / "runlogs"), "POLYMATH_ENV_FILE": str(root / "none.env")}


def polymath(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([POLYMATH, *args], env=env, capture_output=True, text=True, cwd=REPO)


def prepare(root: Path, corpus: Path) -> dict[str, str]:
    env = environment(root)
    ui.write_home(root / "dagster")
    for args in (("services", "up"), ("ingest", str(corpus))):
        done = polymath(env, *args)
        if done.returncode:
            raise SystemExit(f"polymath {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return env


def emulator_requests(home: Path) -> int:
    """Requests in every batch job the emulator received (a request sent twice counts twice)."""
    return sum(service_submissions(home).values())


def ledger(env: dict[str, str]) -> dict:
    import json

    return json.loads(polymath(env, "status", "--json").stdout)


def settled(env: dict[str, str], passages: int) -> bool:
    totals = ledger(env)["total"]
    return totals.get("done", 0) + totals.get("dead", 0) == passages


def ui_backfill(root: Path, corpus: Path, passages: int) -> None:
    env = prepare(root, corpus)
    dev = ui.DagsterDev(env, free_port(), root / "dagster-dev.log")
    try:
        dev.wait_ready()
        started = time.monotonic()
        launched_at = time.time()
        backfill_id = ui.launch_backfill(dev.client)

        report = ui.wait_for_report(dev.client, launched_at, timeout_s=3600, context=dev.log_tail)
        seconds = time.monotonic() - started
        if not settled(env, passages):
            raise SystemExit(f"qc_report materialized before every passage settled: {ledger(env)['total']}")
        runs = ui.runs(dev.client)
        requests = emulator_requests(root / "home")
        held = report["metadata"].get("shards held back") or {}
        status = ui.partition_status(dev.client, "passage_concepts")
        bench("ui_backfill_seconds", seconds, "s")
        bench("ui_backfill_runs_launched", len(runs), "runs")
        bench("ui_backfill_emulator_requests", requests, "requests")
        bench("ui_backfill_passages", passages, "passages")
        bench("ui_backfill_held_back_shards", len(held), "shards")
        bench("ui_backfill_failed_partitions_shown", len(status.failed), "partitions")
        print(f"# qc_report verdict {report['metadata'].get('verdict')}, held back {sorted(held)}, "
              f"failed partitions in the UI {sorted(status.failed)}; runs by job: "
              f"{_by_job(runs)}; backfill {ui.backfill(dev.client, backfill_id)['status']}", flush=True)

        # The same backfill again: nothing is waiting, so it submits nothing and pays nothing.
        again_started = time.monotonic()
        again = ui.launch_backfill(dev.client)
        ui.wait_for("the repeated backfill finished",
                    lambda: ui.backfill(dev.client, again)["status"] in ("COMPLETED", "COMPLETED_SUCCESS",
                                                                          "COMPLETED_FAILED", "FAILED"),
                    timeout_s=600, context=dev.log_tail)
        bench("ui_backfill_relaunch_seconds", time.monotonic() - again_started, "s")
        bench("ui_backfill_relaunch_new_requests", emulator_requests(root / "home") - requests, "requests")
        return seconds
    finally:
        dev.stop()
        polymath(env, "services", "down")


def _by_job(runs: list[dict]) -> dict[str, int]:
    found: dict[str, int] = {}
    for run in runs:
        found[run["jobName"]] = found.get(run["jobName"], 0) + 1
    return found


def polymath_run(root: Path, corpus: Path) -> float:
    env = prepare(root, corpus)
    try:
        started = time.monotonic()
        done = polymath(env, "run", "--offline")
        seconds = time.monotonic() - started
        tail = [line for line in done.stdout.splitlines() if line.startswith("shards complete")]
        print(f"# polymath run exit {done.returncode}: {tail[0] if tail else done.stderr[-500:]}", flush=True)
        bench("polymath_run_seconds", seconds, "s")
        return seconds
    finally:
        polymath(env, "services", "down")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--abstracts", type=int, default=500)
    parser.add_argument("--keep", type=Path, default=None, help="Keep the homes here (default: a temporary folder).")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="ui-backfill-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        corpus = write_scierc_corpus(root / "scierc.jsonl", args.abstracts)
        ui_seconds = ui_backfill(root / "ui", corpus, args.abstracts)
        run_seconds = polymath_run(root / "cli", corpus)
        bench("ui_backfill_vs_polymath_run", ui_seconds / run_seconds, "x")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
