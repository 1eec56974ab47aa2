"""Graph use case: bring the graph in line with PostgreSQL for a shard and reconcile it —
what the ``neo4j_concept_graph`` asset does for its partition and ``polymath graph sync``
for each shard."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from polymath_assets.config import Config
from polymath_assets.graph.connection import GraphConnection
from polymath_assets.graph.reconcile import Reconciliation, reconcile
from polymath_assets.graph.sync import SyncResult, sync_shard
from polymath_assets.interrupts import checkpoint
from polymath_assets.shards import shard_key


@dataclass
class ShardGraphSync:
    shard: int
    sync: SyncResult
    check: Reconciliation

    @property
    def mode(self) -> str:
        return f"full ({self.sync.full_reason})" if self.sync.full else "incremental"

    def line(self) -> str:
        waiting = f", {self.sync.unresolved} rows not resolved yet" if self.sync.unresolved else ""
        verdict = "ok" if self.check.ok else f"FAILED {str(self.check.differences)[:300]}"
        return (f"{shard_key(self.shard)}: {self.mode}; {self.sync.claimed_passages} changed passages, "
                f"{self.sync.refreshed_concepts} concepts refreshed{waiting}; reconciliation {verdict}")


def sync_graph(conn: psycopg.Connection, graph: GraphConnection, config: Config, shards: list[int], *,
               full: bool = False, progress: Callable[[str], None] = lambda _: None) -> list[ShardGraphSync]:
    """Sync and reconcile each shard in turn (a stop asked for by SIGINT/SIGTERM is honoured
    between shards; each sync commits whole or not at all)."""
    done = []
    for shard in shards:
        checkpoint()
        result = sync_shard(conn, graph, shard=shard, shard_count=config.shard_count,
                            batch_size=config.graph_batch_size, full=full)
        done.append(ShardGraphSync(shard, result, reconcile(conn, graph, shard=shard,
                                                             shard_count=config.shard_count)))
        progress(done[-1].line())
    return done
