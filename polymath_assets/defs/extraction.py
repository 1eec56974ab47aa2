import dagster as dg

from polymath_assets.defs.partitions import shard_from_context, shards_from_context
from polymath_assets.defs.passages import ONE_RUN
from polymath_assets.defs.quality import concept_gate_checks, concept_gate_results, held_back
from polymath_assets.defs.resources import GeminiResource, PostgresResource
from polymath_assets.extraction import runner
from polymath_assets.operations.extraction import settle, submit_shards
from polymath_assets.qc.gates import Thresholds
from polymath_assets.shards import shard_key


def gemini_batch_jobs_asset(shards: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(partitions_def=shards, backfill_policy=ONE_RUN, deps=["pending_passages"], group_name="extraction",
              kinds={"gemini"})
    def gemini_batch_jobs(context: dg.AssetExecutionContext, postgres: PostgresResource,
                          gemini: GeminiResource) -> dg.MaterializeResult:
        """Each shard's waiting requests as one submitted Gemini batch job, recorded in
        Postgres before anything else can fail; never resubmits work in flight or done.
        The estimate is calibrated and checked against the budget cap before anything goes
        out. The batch-completion sensor picks the jobs up when they finish."""
        config = postgres.config()
        with postgres.connect() as conn:
            out = submit_shards(conn, gemini.client(), runner.ExtractionSettings.for_run(config, context.run.run_id),
                                shards_from_context(context), progress=context.log.info)
        for shard, result in out.results.items():
            context.add_asset_metadata({
                "job id": result.job_id if result.job_id is not None else dg.MetadataValue.null(),
                "requests": result.requests,
                "estimated cost (USD)": dg.MetadataValue.float(round(float(result.estimated_cost_usd), 6)),
                "note": result.reason or "submitted",
                "deferred": result.deferred,
            }, partition_key=shard_key(shard))
        if out.cap_full:
            # The enqueued-token cap is full: wait in this run and try the rest again, so a
            # large backfill goes out in waves; the sensor's settle runs free room meanwhile.
            context.log.info(f"{len(out.cap_full)} shards wait for room under POLYMATH_MAX_ENQUEUED_TOKENS")
            raise dg.RetryRequested(max_retries=config.cap_retries, seconds_to_wait=config.cap_retry_s)
        submitted = [r for r in out.results.values() if r.job_id is not None]
        return dg.MaterializeResult(metadata={
            "jobs submitted": len(submitted),
            "requests submitted": sum(r.requests for r in submitted),
            "estimated cost (USD)": dg.MetadataValue.float(round(float(sum(r.estimated_cost_usd for r in submitted)), 6)),
        })

    return gemini_batch_jobs


def passage_concepts_asset(shards: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(partitions_def=shards, deps=["gemini_batch_jobs"], group_name="extraction", kinds={"postgres"},
              check_specs=concept_gate_checks(shards))
    def passage_concepts(context: dg.AssetExecutionContext, postgres: PostgresResource, gemini: GeminiResource):
        """The shard's accepted concepts: finished batch results parsed, validated, evidence
        aligned and loaded idempotently (requests of failed or expired jobs marked for
        resubmission; jobs still in flight left for later), then the four gates evaluated
        as blocking checks. A shard failing a gate is held back: its concepts stay stored,
        but this partition fails (red in the partitions view), the check says the value,
        the target and what to do, and nothing flows into embeddings or the graph."""
        from polymath_assets.kb.quality import extraction_metrics

        config = postgres.config()
        settings = runner.ExtractionSettings.for_run(config, context.run.run_id)
        shard = shard_from_context(context)
        with postgres.connect() as conn:
            settled = settle(conn, gemini.client(), settings, shard=shard, progress=context.log.info)
            metrics = extraction_metrics(conn, settings.version, shard)
        results = concept_gate_results(metrics, Thresholds.from_config(config), shard)
        metadata = {
            "concepts loaded now": settled.concepts_loaded,
            "jobs ingested now": str(settled.ingested),
            "jobs still in flight": str(settled.still_running),
            "concepts (shard total)": metrics["concepts"],
            "passages": dg.MetadataValue.json(metrics["states"]),
            "parse failures": metrics["parse_errors"],
            "responses": metrics["lines"],
            "mean concepts per passage": dg.MetadataValue.float(round(metrics["mean"] or 0.0, 3)),
        }
        if any(not r.passed for r in results):
            yield from results  # recorded for this partition before the step fails
            raise held_back(shard, results, metadata)
        yield dg.MaterializeResult(metadata=metadata, check_results=results)

    return passage_concepts
