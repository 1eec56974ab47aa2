import dagster as dg

from polymath_assets.defs.partitions import shard_from_context, shard_partitions
from polymath_assets.defs.passages import pending_passages
from polymath_assets.defs.quality import CONCEPT_GATE_CHECKS, concept_gate_results
from polymath_assets.defs.resources import GeminiResource, PostgresResource
from polymath_assets.extraction import runner
from polymath_assets.kb import ledger
from polymath_assets.qc.gates import Thresholds


@dg.asset(partitions_def=shard_partitions, deps=[pending_passages], group_name="extraction", kinds={"gemini"})
def gemini_batch_jobs(context: dg.AssetExecutionContext, postgres: PostgresResource,
                      gemini: GeminiResource) -> dg.MaterializeResult:
    """One shard's waiting requests as a submitted Gemini batch job, recorded in Postgres
    before anything else can fail; never resubmits work in flight or done. The
    batch-completion sensor picks the job up when it finishes."""
    settings = runner.ExtractionSettings.for_run(postgres.config(), context.run.run_id)
    shard = shard_from_context(context)
    client = gemini.client()
    with postgres.connect() as conn:
        for note in runner.recover(conn, client, settings):
            context.log.warning(note)
        result = runner.submit(conn, client, runner.calibrate_output(conn, settings), shard)
    if result.cap_full:
        # The enqueued-token cap is full: wait in this run (its slot in the backfill's run
        # limit is what makes a 64-shard backfill go out in waves) and try again.
        # The sensor polls and ingests finished jobs meanwhile, which frees room.
        config = postgres.config()
        raise dg.RetryRequested(max_retries=config.cap_retries, seconds_to_wait=config.cap_retry_s)
    if result.job_id is None:
        context.log.info(f"shard {shard}: no job submitted ({result.reason})")
    return dg.MaterializeResult(metadata={
        "job id": result.job_id if result.job_id is not None else dg.MetadataValue.null(),
        "requests": result.requests,
        "estimated cost (USD)": dg.MetadataValue.float(round(result.estimated_cost_usd, 6)),
        "note": result.reason or "submitted",
        "deferred": result.deferred,
    })


@dg.asset(partitions_def=shard_partitions, deps=[gemini_batch_jobs], group_name="extraction", kinds={"postgres"},
          check_specs=CONCEPT_GATE_CHECKS)
def passage_concepts(context: dg.AssetExecutionContext, postgres: PostgresResource,
                     gemini: GeminiResource) -> dg.MaterializeResult:
    """The shard's finished batch results: parsed, validated, evidence aligned, loaded into
    passage_concepts idempotently; requests of failed or expired jobs marked for
    resubmission. Jobs still in flight are left for a later materialization. The gates
    are evaluated on the shard here, as blocking checks."""
    from polymath_assets.kb.quality import extraction_metrics

    settings = runner.ExtractionSettings.for_run(postgres.config(), context.run.run_id)
    shard = shard_from_context(context)
    client = gemini.client()
    loaded, ingested, still_running = 0, [], []
    with postgres.connect() as conn:
        for job in ledger.jobs(conn, settings.version, ledger.ACTIVE_JOB_STATES, shard=shard):
            status = runner.refresh(conn, client, settings, job)
            if not status.terminal:
                still_running.append(job.job_id)
            elif status.state != "succeeded":
                context.log.warning(f"job {job.job_id} {status.state}: {status.error}; requests queued for resubmission")
        for job in ledger.jobs(conn, settings.version, ("succeeded",), shard=shard):
            result = runner.ingest(conn, client, settings, job)
            if result is None:
                continue  # another run is ingesting it
            loaded += result.concepts_loaded
            ingested.append(job.job_id)
        metrics = extraction_metrics(conn, settings.version, shard)
    return dg.MaterializeResult(metadata={
        "concepts loaded now": loaded,
        "jobs ingested now": str(ingested),
        "jobs still in flight": str(still_running),
        "concepts (shard total)": metrics["concepts"],
        "passages": dg.MetadataValue.json(metrics["states"]),
        "parse failures": metrics["parse_errors"],
        "responses": metrics["lines"],
        "mean concepts per passage": dg.MetadataValue.float(round(metrics["mean"] or 0.0, 3)),
    }, check_results=concept_gate_results(metrics, Thresholds.from_config(postgres.config())))
