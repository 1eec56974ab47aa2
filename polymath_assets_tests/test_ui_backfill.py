"""The operator's path, for real: ``dagster dev`` (webserver and daemon) on a fresh home, the
README's partition backfill launched over the webserver's GraphQL as the UI sends it, the
batch-completion sensor on. Without a hand: every shard is settled, ``qc_report``
materializes, nothing is paid twice — and a shard made to fail a gate is shown held back
(failed, not materialized) in the partition status the UI reads and in the asset's
partitions page rendered by headless Chromium.

The corpus is real text (SciERC abstracts) in 4 shards; one shard's passages are replaced
by one-concept sentences, so its concepts-per-passage gate fails."""

from __future__ import annotations

import json
import os
import time

import psycopg
import pytest

from polymath_assets.kb.migrate import migrate
from polymath_assets.local import emulator_service
from polymath_assets.local.state import free_port
from polymath_assets.shards import shard_key, shard_of
from polymath_assets_tests import ui_backfill as ui
from polymath_assets_tests import ui_support
from polymath_assets_tests.emulator_reads import service_submissions
from polymath_assets_tests.real_text import load_scierc, passage_id_of

SHARDS = 4
ABSTRACTS = 36
SCREEN = (1600, 1000)


def corpus(path) -> tuple[int, int]:
    """The abstracts in the ingest format, the first one's shard made sparse: (held shard, passages)."""
    rows = []
    for row in load_scierc()[:ABSTRACTS]:
        passage_id = passage_id_of(row)
        rows.append((row, passage_id, shard_of(passage_id, SHARDS)))
    held = rows[0][2]
    with path.open("w", encoding="utf-8") as out:
        for i, (row, passage_id, shard) in enumerate(rows):
            text = f"We report result {i} obtained with BERT." if shard == held else row["passage_text"]
            out.write(json.dumps({"kind": "document", "doc_id": row["doc_id"], "title": f"Paper {i}"}) + "\n")
            out.write(json.dumps({"kind": "passage", "doc_id": row["doc_id"], "passage_id": passage_id,
                                  "section": "abstract", "passage_text": text}) + "\n")
    return held, len(rows)


@pytest.mark.slow
def test_a_backfill_launched_from_the_ui_settles_every_shard_reports_and_shows_the_held_one(
        new_database, graph, graph_server, tmp_path):
    import subprocess
    import sys

    dsn = new_database()
    with psycopg.connect(dsn) as conn:
        migrate(conn, embedding_dim=384, shard_count=SHARDS, merge_preference=("gemini_batch_v1",),
                confidence_floor=0.7)
    held, passages = corpus(tmp_path / "corpus.jsonl")
    home = tmp_path / "home"
    env = {**os.environ, "POSTGRES_DSN": dsn, "NEO4J_URI": graph_server, "POLYMATH_HOME": str(home),
           "DAGSTER_HOME": str(ui.write_home(tmp_path / "dagster")), "POLYMATH_SHARD_COUNT": str(SHARDS),
           "POLYMATH_OFFLINE": "1", "POLYMATH_EMBEDDING_MODEL": "packaged-minilm", "POLYMATH_EMBEDDING_DIM": "384",
           "POLYMATH_EMBEDDING_DEVICE": "cpu", "POLYMATH_RUNLOG_DIR": str(tmp_path / "runlogs"),
           "POLYMATH_ENV_FILE": str(tmp_path / "none.env")}
    ingest = subprocess.run([sys.executable, "-m", "polymath_assets.cli", "ingest", str(tmp_path / "corpus.jsonl")],
                            env=env, capture_output=True, text=True, timeout=300)
    assert ingest.returncode == 0, ingest.stderr
    dev = ui.DagsterDev(env, free_port(), tmp_path / "dagster-dev.log")
    try:
        dev.wait_ready()
        launched_at = time.time()
        backfill_id = ui.launch_backfill(dev.client)

        report = ui.wait_for_report(dev.client, launched_at, timeout_s=420,
                                    context=lambda: f"runs {ui.runs(dev.client)}\n{dev.log_tail()}")

        # Every passage settled; each request paid for exactly once.
        with psycopg.connect(dsn) as conn:
            states = dict(conn.execute("SELECT status, count(*) FROM passage_requests GROUP BY 1").fetchall())
            keys = {k for (k,) in conn.execute("SELECT request_key FROM passage_requests")}
        assert states == {"done": passages}, states
        sent = service_submissions(home)
        assert set(sent) == keys and set(sent.values()) == {1}, sent

        # The held shard: failed in the asset's partition status, named in the report.
        status = ui.partition_status(dev.client, "passage_concepts")
        assert status.failed == {shard_key(held)}, status
        assert status.materialized == {shard_key(s) for s in range(SHARDS)} - {shard_key(held)}, status
        held_back = report["metadata"]["shards held back"]
        assert list(held_back) == [shard_key(held)]
        assert held_back[shard_key(held)]["gates"] == ["concepts per passage"]
        assert "pilot --compare" in held_back[shard_key(held)]["what to do"]
        embedded = ui.partition_status(dev.client, "passage_embeddings")
        assert shard_key(held) not in embedded.materialized and len(embedded.materialized) == SHARDS - 1

        # Few runs: one for the whole backfill (every shard submitted in it), the settle run(s)
        # the sensor launched, and each shard's own run inside them (the held one failed).
        runs = ui.wait_for("the settle run finished", lambda: [
            r for r in [ui.runs(dev.client)] if all(x["status"] in ("SUCCESS", "FAILURE", "CANCELED") for x in r)],
            timeout_s=120)[0]
        tags = [{t["key"]: t["value"] for t in run["tags"]} for run in runs]
        # The backfill's own run submitted every shard; each shard's run, once settled, is shown
        # on the backfill's page beside it (the held one failed).
        of_backfill = [(t.get("dagster/partition"), r["status"]) for r, t in zip(runs, tags)
                       if t.get("dagster/backfill") == backfill_id]
        assert sorted(of_backfill, key=str) == sorted(
            [(None, "SUCCESS")] + [(shard_key(s), "FAILURE" if s == held else "SUCCESS") for s in range(SHARDS)],
            key=str), of_backfill
        assert ui.backfill(dev.client, backfill_id)["status"] == "COMPLETED_SUCCESS"
        assert {r["status"] for r in runs if r["jobName"] == "settle_shards"} == {"SUCCESS"}, runs
        shard_runs = {t.get("dagster/partition"): r["status"] for r, t in zip(runs, tags)
                      if t.get("polymath/shard_run") and t.get("dagster/partition")}
        assert shard_runs == {shard_key(s): "FAILURE" if s == held else "SUCCESS" for s in range(SHARDS)}, shard_runs

        # The sensor's ticks say what they polled and launched.
        messages = [t["skipReason"] or "" for t in ui.sensor_ticks(dev.client)]
        messages += [e["message"] for t in ui.sensor_ticks(dev.client) for e in t["logEvents"]["events"]]
        assert any("launched settle-after-job-" in m for m in messages), messages
        assert all(m.startswith("polled ") for m in messages if "jobs in flight" in m), messages

        # What the operator sees first: the asset's partitions page, the held shard marked failed.
        if ui_support.chromium_path() is None:
            pytest.fail(ui_support.CHROMIUM_MISSING.format(path=ui_support.CHROMIUM), pytrace=False)
        page = f"{dev.url}/assets/passage_concepts?view=partitions"
        dom = ui_support.dump_dom(page, tmp_path / "profile", SCREEN)
        assert shard_key(held) in dom, dom[-3000:]
        # the status filter's counts, as the page shows them (the held shard's dot is red)
        assert "Failed (1)" in dom and f"Materialized ({SHARDS - 1})" in dom, dom[-3000:]
        ui_support.screenshot(page, ui_support.artifacts_dir() / "held_back_partitions.png", tmp_path / "profile",
                              SCREEN)
        # The backfill's page lists the shard runs beside the submission: the held one failed.
        page = f"{dev.url}/runs/b/{backfill_id}?tab=runs"
        dom = ui_support.dump_dom(page, tmp_path / "profile", SCREEN)
        ui_support.screenshot(page, ui_support.artifacts_dir() / "backfill_runs.png", tmp_path / "profile", SCREEN)
        assert f"partition: {shard_key(held)}" in dom and "Failure" in dom, dom[-3000:]
    finally:
        dev.stop()
        emulator_service.stop(home)
