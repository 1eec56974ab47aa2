import dagster as dg

from polymath_assets.defs.partitions import shard_from_context
from polymath_assets.defs.quality import shard_check
from polymath_assets.defs.resources import GraphResource, PostgresResource


class GraphSyncConfig(dg.Config):
    """Run configuration of the graph sync (shown in the launchpad)."""

    full: bool = False
    """Project the whole shard again, not only the passages changed since the last sync.
    A full projection also happens by itself after a merge-policy change or when the
    graph was emptied or replaced."""


def neo4j_concept_graph_asset(shards: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        partitions_def=shards,
        # canonical_concepts: its blocking check (surfaces_resolved) holds the graph back, and
        # the graph shows its concepts.
        deps=["passage_concepts", "passage_embeddings", "canonical_concepts"],
        group_name="enrichment",
        kinds={"neo4j"},
        # One graph sync at a time (pool limit 1 in dagster.yaml / deploy): on Neo4j, shards
        # MERGE shared Concept nodes, and the orphan clean-up of one shard must not run in the
        # middle of another's writes. Deadlocks that still occur are retried by the driver.
        pool="graph",
        check_specs=[shard_check("graph_reconciliation", "neo4j_concept_graph",
                                 "Counts and content digests (titles, names, relationship keys) equal what Postgres "
                                 "says for the shard.", shards)],
    )
    def neo4j_concept_graph(context: dg.AssetExecutionContext, config: GraphSyncConfig, postgres: PostgresResource,
                            graph: GraphResource) -> dg.MaterializeResult:
        """The shard's Paper, Passage and canonical Concept nodes (concept id, preferred name,
        aliases, type label) with FROM_PAPER and MENTIONS (the surface as written, confidence,
        extractor version), following the merge policy and the canonical concepts: the passages changed
        since the last sync (a change log in Postgres, rollbacks and deletions included), or
        the whole shard when `full` is set, the merge policy changed or the graph is new.
        UNWIND batches, indexes first. The graph is a projection: it can be rebuilt from
        Postgres at any time."""
        from polymath_assets.operations.graph import sync_graph

        with postgres.connect() as conn, graph.open() as g:
            (done,) = sync_graph(conn, g, postgres.config(), [shard_from_context(context)], full=config.full)
        result, check = done.sync, done.check
        return dg.MaterializeResult(
            metadata={**{f"synced {kind}": n for kind, n in result.counts.items()},
                      "mode": done.mode,
                      "passages removed": result.removed_passages,
                      "concepts refreshed": result.refreshed_concepts,
                      "rows not resolved yet": result.unresolved,
                      "seconds": dg.MetadataValue.float(round(result.seconds, 2)),
                      "expected": dg.MetadataValue.json(check.expected),
                      "in graph": dg.MetadataValue.json(check.actual)},
            check_results=[dg.AssetCheckResult(
                check_name="graph_reconciliation", passed=check.ok, severity=dg.AssetCheckSeverity.ERROR,
                metadata={"differences": dg.MetadataValue.json(check.differences),
                          "digests": dg.MetadataValue.json(check.digests)})],
        )

    return neo4j_concept_graph
