import dagster as dg

from polymath_assets.defs.partitions import shard_from_context, shard_partitions
from polymath_assets.defs.resources import PostgresResource
from polymath_assets.extraction import runner


@dg.asset(partitions_def=shard_partitions, group_name="extraction", kinds={"postgres"})
def pending_passages(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    """The passages of one shard that still lack concepts for the target extractor version,
    registered in the request ledger as pending; token and cost estimate as metadata.
    Re-materializing adds only passages that appeared since."""
    settings = runner.ExtractionSettings.from_config(postgres.config())
    shard = shard_from_context(context)
    with postgres.connect() as conn:
        added = runner.select_shard(conn, settings, shard)
        estimate = runner.estimate_pending(conn, settings, shard)
    return dg.MaterializeResult(metadata={
        "newly selected": added,
        "requests waiting": estimate["requests"],
        "estimated input tokens": estimate["prompt_tokens"],
        "estimated output tokens": estimate["output_tokens"],
        "estimated cost (USD)": dg.MetadataValue.float(round(estimate["estimated_cost_usd"], 6)),
        "extractor version": settings.version,
    })
