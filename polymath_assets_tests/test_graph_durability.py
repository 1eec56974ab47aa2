"""Durability of the embedded graph: a ``kill -9`` of the server in the middle of a sync
loses no acknowledged write (append-only file), and the next run of the graph asset —
the step `polymath run` runs per shard — brings every shard back in line."""

from __future__ import annotations

import os
import signal

import dagster as dg
import pytest

from polymath_assets.defs.graph import neo4j_concept_graph
from polymath_assets.defs.resources import GraphResource, PostgresResource
from polymath_assets.graph import GraphUnavailable, open_graph, reconcile, sync_shard
from polymath_assets.local import embedded_graph
from polymath_assets.shards import shard_key
from polymath_assets_tests.test_graph import SHARDS, _shard_with_passages, corpus  # noqa: F401 (fixture)

KILL_AFTER_STATEMENTS = 10  # of about 30 for the shard at 10 rows a statement


@pytest.mark.slow
@pytest.mark.usefixtures("corpus")
def test_kill_9_mid_sync_loses_nothing_acknowledged_and_the_next_run_reconciles(kb_dsn, kb, tmp_path):
    home = tmp_path / "home"
    uri = embedded_graph.start(home)
    try:
        first, second, third = (_shard_with_passages(kb, rank) for rank in range(3))
        kb.commit()
        with open_graph(uri) as graph:
            sync_shard(kb, graph, shard=first, shard_count=SHARDS, batch_size=10)
            pid = embedded_graph.running_pid(home)
            acknowledged = graph.records("MATCH (n) RETURN count(n) AS n")[0]["n"]
            real_run, statements = graph.run, []

            def run_then_kill(statement, **params):
                counters = real_run(statement, **params)
                statements.append(counters)
                if len(statements) == KILL_AFTER_STATEMENTS:
                    os.kill(pid, signal.SIGKILL)
                return counters

            graph.run = run_then_kill
            with pytest.raises(GraphUnavailable):
                sync_shard(kb, graph, shard=second, shard_count=SHARDS, batch_size=10)
            kb.rollback()
            acknowledged += sum(c.get("nodes_created", 0) - c.get("nodes_deleted", 0) for c in statements)

        uri = embedded_graph.start(home)  # what `polymath run` does first: the services come up
        with open_graph(uri) as graph:
            survived = graph.records("MATCH (n) RETURN count(n) AS n")[0]["n"]
            print(f"kill -9 after {len(statements)} acknowledged statements: {acknowledged} nodes "
                  f"acknowledged, {survived} survived the restart")
            assert survived == acknowledged
            assert reconcile(kb, graph, shard=first, shard_count=SHARDS).ok
            assert not reconcile(kb, graph, shard=second, shard_count=SHARDS).ok  # half-synced

        resources = {"postgres": PostgresResource(dsn_override=kb_dsn), "graph": GraphResource(uri_override=uri)}
        instance = dg.DagsterInstance.ephemeral()
        for shard in (first, second, third):
            result = dg.materialize([neo4j_concept_graph], partition_key=shard_key(shard), resources=resources,
                                    instance=instance)
            checks = result.get_asset_check_evaluations()
            assert [c.passed for c in checks] == [True], checks
        with open_graph(uri) as graph:
            for shard in (first, second, third):
                assert reconcile(kb, graph, shard=shard, shard_count=SHARDS).ok
    finally:
        embedded_graph.stop(home)
