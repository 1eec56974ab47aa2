"""The concept graph: Cypher statements, the Neo4j / FalkorDB switch, batched sync.

PostgreSQL is the source of truth; the graph is a projection that can be rebuilt at
any time (``sync_shard(..., full=True)``) and checked against it (``reconcile``).
"""

from polymath_assets.graph.connection import (
    GraphConnection,
    GraphStatementError,
    GraphUnavailable,
    open_driver,
    wrap_driver,
)
from polymath_assets.graph.sync import (
    Reconciliation,
    SyncResult,
    ensure_schema,
    graph_counts,
    papers_of_concept,
    reconcile,
    sync_shard,
)

__all__ = [
    "GraphConnection", "GraphStatementError", "GraphUnavailable", "open_driver", "wrap_driver",
    "Reconciliation", "SyncResult", "ensure_schema", "graph_counts", "papers_of_concept", "reconcile", "sync_shard",
]
