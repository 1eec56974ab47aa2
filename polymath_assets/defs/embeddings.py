import dagster as dg

from polymath_assets.defs.extraction import passage_concepts
from polymath_assets.defs.resources import PostgresResource
from polymath_assets.defs.not_built import not_built_yet
from polymath_assets.defs.partitions import shard_partitions


@dg.asset(
    partitions_def=shard_partitions,
    deps=[passage_concepts],
    pool="gpu",
    group_name="enrichment",
    kinds={"pytorch", "postgres"},
)
def passage_embeddings(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    """BGE-M3 dense vectors for the shard's passages that lack one for the configured
    model, written to pgvector. Runs in pool "gpu" (limit 1)."""
    raise not_built_yet("passage_embeddings", "embeddings and graph issue")
