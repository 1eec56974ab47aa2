import dagster as dg

from polymath_assets.defs.resources import PostgresResource
from polymath_assets.defs.not_built import not_built_yet
from polymath_assets.defs.partitions import shard_partitions


@dg.asset(partitions_def=shard_partitions, group_name="extraction", kinds={"postgres"})
def pending_passages(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    """The passages of one shard that still lack concepts for the target extractor version,
    registered in the request ledger as pending; token and cost estimate as metadata."""
    raise not_built_yet("pending_passages", "concept extraction issue")
