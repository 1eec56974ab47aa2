"""The concept graph: one port (``connection.GraphConnection``), two adapters (Neo4j over
Bolt with the official driver; the embedded FalkorDB over its own protocol), one set of
Cypher statements, batched sync from PostgreSQL and reconciliation against it.

PostgreSQL is the source of truth; the graph is a projection that can be rebuilt at any
time (``sync_shard(..., full=True)``) and checked against it (``reconcile``).
"""

from polymath_assets.graph.connection import (
    GraphConnection,
    GraphStatementError,
    GraphUnavailable,
    open_graph,
)
from polymath_assets.graph.reconcile import Reconciliation, graph_counts, reconcile
from polymath_assets.graph.sync import SyncResult, graph_epoch, sync_shard
from polymath_assets.graph.traversal import papers_of_concept, read_only_query

__all__ = [
    "GraphConnection", "GraphStatementError", "GraphUnavailable", "open_graph",
    "Reconciliation", "graph_counts", "reconcile", "SyncResult", "graph_epoch", "sync_shard",
    "papers_of_concept", "read_only_query",
]
