import dagster as dg

from polymath_assets.defs.embeddings import GATED, passage_embeddings
from polymath_assets.defs.extraction import passage_concepts
from polymath_assets.defs.partitions import shard_from_context, shard_partitions
from polymath_assets.defs.quality import shard_check
from polymath_assets.defs.resources import GraphResource, PostgresResource
from polymath_assets.defs.settings import CONFIG


@dg.asset(
    partitions_def=shard_partitions,
    deps=[passage_concepts, passage_embeddings],
    group_name="enrichment",
    kinds={"neo4j"},
    automation_condition=GATED,
    check_specs=[shard_check("graph_reconciliation", "neo4j_concept_graph",
                             "Node and relationship counts equal what Postgres says for the shard.")],
)
def neo4j_concept_graph(context: dg.AssetExecutionContext, postgres: PostgresResource,
                        graph: GraphResource) -> dg.MaterializeResult:
    """The shard's Paper, Passage and typed Concept nodes with FROM_PAPER and MENTIONS
    (confidence, extractor version), synced incrementally from Postgres by the merge
    policy in UNWIND batches (indexes first). The graph is a projection: it can be
    rebuilt from Postgres at any time."""
    from polymath_assets.graph.sync import reconcile, sync_shard

    shard = shard_from_context(context)
    with postgres.connect() as conn, graph.open() as g:
        result = sync_shard(conn, g, shard=shard, shard_count=CONFIG.shard_count, batch_size=CONFIG.graph_batch_size)
        check = reconcile(conn, g, shard=shard, shard_count=CONFIG.shard_count)
    return dg.MaterializeResult(
        metadata={**{f"synced {kind}": n for kind, n in result.counts.items()},
                  "seconds": dg.MetadataValue.float(round(result.seconds, 2)),
                  "expected": dg.MetadataValue.json(check.expected), "in graph": dg.MetadataValue.json(check.actual)},
        check_results=[dg.AssetCheckResult(
            check_name="graph_reconciliation", passed=check.ok, severity=dg.AssetCheckSeverity.ERROR,
            metadata={"differences": dg.MetadataValue.json(check.differences)})],
    )
