import dagster as dg

from polymath_assets.defs.resources import PostgresResource
from polymath_assets.defs.not_built import not_built_yet
from polymath_assets.defs.partitions import shard_partitions
from polymath_assets.defs.passages import pending_passages


@dg.asset(partitions_def=shard_partitions, deps=[pending_passages], group_name="extraction", kinds={"gemini"})
def gemini_batch_jobs(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    """One shard's pending requests as a submitted Gemini batch job, recorded in Postgres
    before anything else can fail; never resubmits work in flight or done."""
    raise not_built_yet("gemini_batch_jobs", "concept extraction issue")


@dg.asset(partitions_def=shard_partitions, deps=[gemini_batch_jobs], group_name="extraction", kinds={"postgres"})
def passage_concepts(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    """The shard's finished batch results: parsed, validated, evidence aligned, loaded into
    passage_concepts idempotently; failed or expired requests marked for resubmission."""
    raise not_built_yet("passage_concepts", "concept extraction issue")
