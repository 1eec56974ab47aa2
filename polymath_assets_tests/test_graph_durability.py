"""Durability of the embedded graph under `kill -9` of its server in the middle of a sync.

- In process, statement by statement: nothing the server acknowledged before the kill is
  lost (append-only file), and a sync of the half-synced shard brings it back in line.
- As an operator meets it: the server is killed while `polymath run` syncs the graph; that
  run fails with a message that names the graph and what to do, and the next `polymath run`
  finishes, `polymath verify` passes and every shard reconciles.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from polymath_assets.graph import GraphUnavailable, open_graph, reconcile, sync_shard
from polymath_assets.kb import graph_source
from polymath_assets.local import embedded_graph, emulator_service
from polymath_assets_tests.extraction_helpers import SAMPLE, ledger_states
from polymath_assets_tests.test_graph import SHARDS, _shard_with_passages, corpus  # noqa: F401 (fixture)

KILL_AFTER_STATEMENTS = 10  # of about 30 for the shard at 10 rows a statement


def sync_killed_after(statements: int, kb, graph, pid: int, **sync) -> list[dict]:
    """Sync with the graph server killed (kill -9) right after its ``statements``-th
    acknowledged write; return the summaries of the acknowledged writes."""
    real_run, acknowledged = graph.run, []

    def run_then_kill(statement, **params):
        summary = real_run(statement, **params)
        acknowledged.append(summary)
        if len(acknowledged) == statements:
            os.kill(pid, signal.SIGKILL)
        return summary

    graph.run = run_then_kill
    with pytest.raises(GraphUnavailable):
        sync_shard(kb, graph, **sync)
    kb.rollback()
    graph.run = real_run
    return acknowledged


@pytest.mark.usefixtures("corpus")
def test_kill_9_mid_sync_loses_nothing_acknowledged_and_the_next_sync_reconciles(kb, tmp_path):
    home = tmp_path / "home"
    uri = embedded_graph.start(home)
    try:
        first, second = (_shard_with_passages(kb, rank) for rank in range(2))
        kb.commit()
        with open_graph(uri) as graph:
            sync_shard(kb, graph, shard=first, shard_count=SHARDS, batch_size=10)
            pid = embedded_graph.running_pid(home)
            acknowledged = graph.records("MATCH (n) RETURN count(n) AS n")[0]["n"]
            statements = sync_killed_after(KILL_AFTER_STATEMENTS, kb, graph, pid, shard=second, shard_count=SHARDS,
                                           batch_size=10)
            acknowledged += sum(c.get("nodes_created", 0) - c.get("nodes_deleted", 0) for c in statements)

        uri = embedded_graph.start(home)  # what `polymath run` does at its next use of the graph
        with open_graph(uri) as graph:
            survived = graph.records("MATCH (n) RETURN count(n) AS n")[0]["n"]
            print(f"kill -9 after {len(statements)} acknowledged statements: {acknowledged} nodes "
                  f"acknowledged, {survived} survived the restart")
            assert survived == acknowledged, graph.records(
                "MATCH (n) RETURN labels(n) AS labels, count(n) AS n ORDER BY n")  # which kind went missing
            assert reconcile(kb, graph, shard=first, shard_count=SHARDS).ok
            assert not reconcile(kb, graph, shard=second, shard_count=SHARDS).ok  # half-synced

            sync_shard(kb, graph, shard=second, shard_count=SHARDS, batch_size=10)  # its claim was never consumed
            for shard in (first, second):
                assert reconcile(kb, graph, shard=shard, shard_count=SHARDS).ok
    finally:
        embedded_graph.stop(home)


# --- as an operator meets it: `kill -9` of the graph server during `polymath run` -------------

RUN_SHARDS = 2       # the whole knowledge base in two shards (13 and 8 passages)
RUN_DOCUMENTS = 2    # the first two papers of the sample corpus: 21 passages
RUN_BATCH_SIZE = 5   # rows a statement: dozens of statements for the first shard
RUN_KILL_AFTER = 10  # statements: papers and passages (4 statements) are in, concepts under way


def _small_corpus(path: Path) -> tuple[Path, int]:
    """The first documents of the sample corpus with their passages: (file, passages)."""
    docs, lines = set(), []
    for line in SAMPLE.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["kind"] == "document" and len(docs) < RUN_DOCUMENTS:
            docs.add(row["doc_id"])
        if row["doc_id"] in docs:
            lines.append(line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, sum(1 for line in lines if json.loads(line)["kind"] == "passage")


@pytest.mark.slow
def test_kill_9_of_the_graph_during_polymath_run_then_polymath_run_reconciles(new_database, tmp_path):
    home, dsn = tmp_path / "home", new_database()
    env = {**os.environ, "POSTGRES_DSN": dsn, "POLYMATH_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"),
           "POLYMATH_RUNLOG_DIR": str(home / "runlogs"), "POLYMATH_OFFLINE": "1",
           "POLYMATH_SHARD_COUNT": str(RUN_SHARDS), "POLYMATH_GRAPH_BATCH_SIZE": str(RUN_BATCH_SIZE),
           "POLYMATH_EMBEDDING_MODEL": "packaged-minilm", "POLYMATH_EMBEDDING_DIM": "384",
           "POLYMATH_EMBEDDING_DEVICE": "cpu"}
    timings = []

    def polymath(*args: str, **extra: str) -> subprocess.CompletedProcess:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "polymath_assets.cli", *args], env={**env, **extra},
                              capture_output=True, text=True, timeout=300)
        timings.append((args[0], round(time.perf_counter() - started, 1)))
        return done

    try:
        up = polymath("services", "up")  # the graph server and the schema, as the operator starts them
        assert up.returncode == 0, up.stderr
        corpus_file, passages = _small_corpus(tmp_path / "corpus.jsonl")
        assert polymath("ingest", str(corpus_file)).returncode == 0
        server = embedded_graph.running_pid(home)
        assert server is not None

        killed = polymath("run", POLYMATH_FAILPOINT="graph_statement", POLYMATH_FAILPOINT_AFTER=str(RUN_KILL_AFTER),
                          POLYMATH_FAILPOINT_PID_FILE=str(embedded_graph.graph_dir(home) / "redis.pid"))
        output = killed.stdout + killed.stderr
        assert killed.returncode == 1, output
        assert "shard-000: FAILED" in killed.stdout and "shard-001: ok" in killed.stdout, output
        assert "shard 0 failed: GraphUnavailable: cannot reach the graph server at falkordb+unix://" \
            in killed.stdout, output
        assert "`polymath services up`" in killed.stdout and "run `polymath run` again" in killed.stdout
        # The cause, not a stack: neither Python's nor Dagster's (kept in the instance for the UI).
        assert "Traceback" not in output and "Stack Trace" not in output, output
        # The killed server is gone; the run's next use of the graph (shard 1) started a new one.
        assert embedded_graph.running_pid(home) not in (None, server)

        # Every passage in a known state: extracted and embedded; shard 1 in the graph; shard 0
        # half-synced, with no checkpoint, so the next sync projects it whole.
        with psycopg.connect(dsn) as conn, open_graph(embedded_graph.uri_for(home)) as graph:
            assert ledger_states(conn) == {"done": passages}
            assert conn.execute("SELECT count(*) FROM passages WHERE embedding IS NULL").fetchone()[0] == 0
            assert graph_source.read_checkpoint(conn, 0) == {} and graph_source.read_checkpoint(conn, 1)
            half = reconcile(conn, graph, shard=0, shard_count=RUN_SHARDS)
            assert reconcile(conn, graph, shard=1, shard_count=RUN_SHARDS).ok
            # what the server acknowledged before the kill is still there after its restart
            assert half.actual["passages"] == half.expected["passages"] > 0, half
            assert not half.ok and half.actual["mentions"] == 0, half

        again = polymath("run")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "shard-000: ok" in again.stdout and "shard-001: ok" in again.stdout
        verified = polymath("verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        with psycopg.connect(dsn) as conn, open_graph(embedded_graph.uri_for(home)) as graph:
            for shard in (0, 1, None):  # None: the whole graph, no orphan concept or paper either
                result = reconcile(conn, graph, shard=shard, shard_count=RUN_SHARDS)
                assert result.ok, result
                assert result.actual["passages"] > 0 and result.actual["mentions"] > 0
        print("seconds per command:", timings)
    finally:
        embedded_graph.stop(home)
        emulator_service.stop(home)
