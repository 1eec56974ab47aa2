import dagster as dg

from polymath_assets.defs.resources import PostgresResource
from polymath_assets.extraction import runner
from polymath_assets.operations.extraction import Estimate

# One run covers every shard of a backfill: selecting and submitting are quick per shard,
# and a run per shard would cost a process start (seconds) for each.
ONE_RUN = dg.BackfillPolicy.single_run()


def pending_passages_asset(shards: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    from polymath_assets.defs.partitions import shards_from_context
    from polymath_assets.shards import shard_key

    @dg.asset(partitions_def=shards, backfill_policy=ONE_RUN, group_name="extraction", kinds={"postgres"})
    def pending_passages(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
        """The passages of each shard that still lack concepts for the target extractor
        version, registered in the request ledger as pending; token and cost estimate as
        metadata. Re-materializing adds only passages that appeared since."""
        settings = runner.ExtractionSettings.from_config(postgres.config())
        with postgres.connect() as conn:
            for shard in shards_from_context(context):
                added = runner.select_shard(conn, settings, shard)
                estimate = Estimate.pending(conn, settings, shard=shard)
                context.add_asset_metadata({
                    "newly selected": added,
                    "requests waiting": estimate.requests,
                    "estimated input tokens": estimate.prompt_tokens,
                    "estimated output tokens": estimate.output_tokens,
                    "estimated cost (USD)": dg.MetadataValue.float(round(estimate.cost_usd, 6)),
                }, partition_key=shard_key(shard))
        return dg.MaterializeResult(metadata={"extractor version": settings.version})

    return pending_passages
