"""Jobs, the pilot, and the batch-completion sensor."""

import dagster as dg

from polymath_assets.defs.embeddings import passage_embeddings
from polymath_assets.defs.extraction import gemini_batch_jobs, passage_concepts
from polymath_assets.defs.graph import neo4j_concept_graph
from polymath_assets.defs.passages import pending_passages
from polymath_assets.defs.resources import GeminiResource, PostgresResource
from polymath_assets.defs.settings import CONFIG
from polymath_assets.extraction import completion, runner
from polymath_assets.gemini.client import ProviderError
from polymath_assets.kb import ledger
from polymath_assets.shards import shard_key

MAX_POLLS_PER_TICK = 20

# Launch partition backfills of this job over all shards for the full run.
submit_batches = dg.define_asset_job(
    "submit_batches", selection=[pending_passages, gemini_batch_jobs],
    description="Select a shard's pending passages and submit them as a Gemini batch job (the backfill).")

# Embeddings and the graph follow in the same run; the blocking gate checks on
# passage_concepts keep a shard that fails a gate out of both.
ingest_concepts = dg.define_asset_job(
    "ingest_concepts", selection=[passage_concepts, passage_embeddings, neo4j_concept_graph],
    description="Load a shard's finished batch results; if its gates pass, embed and project it to the graph.")


class PilotConfig(dg.Config):
    size: int = 200
    poll_interval_s: float = 10.0
    timeout_s: float = 3 * 3600.0


@dg.op(description="Select a random sample of pending passages, extract, load, and write the QC report.")
def run_pilot(context: dg.OpExecutionContext, config: PilotConfig, postgres: PostgresResource,
              gemini: GeminiResource) -> None:
    from polymath_assets.extraction.pipeline import drive
    from polymath_assets.qc.gates import Thresholds
    from polymath_assets.qc.report import write_extraction_report

    settings = runner.ExtractionSettings.from_config(CONFIG)
    with postgres.connect() as conn:
        added = runner.select_pilot(conn, settings, config.size)
        context.log.info("continuing the unfinished pilot" if added is None else f"{added} passages selected")
        summary = drive(conn, gemini.client(), settings, pilot=True, poll_interval_s=config.poll_interval_s,
                        timeout_s=config.timeout_s, report=context.log.info)
        runner.finish_run(conn, settings, "pilot", {"concepts_loaded": summary.concepts_loaded})
        report = write_extraction_report(conn, settings, CONFIG.runlog_dir, label="pilot",
                                         thresholds=Thresholds.from_config(CONFIG))
    context.log.info(f"QC report {report.path}\n{report.verdict_lines()}")
    if not report.passed:
        raise dg.Failure(description=f"pilot gates failed:\n{report.verdict_lines()}",
                         metadata={"qc report": dg.MetadataValue.path(str(report.path))})


@dg.job(description="The pilot: 200 random pending passages end to end, gated by the QC report.")
def pilot():
    run_pilot()


@dg.sensor(jobs=[ingest_concepts, submit_batches], minimum_interval_seconds=60,
           default_status=dg.DefaultSensorStatus.RUNNING)
def batch_completion_sensor(context: dg.SensorEvaluationContext, postgres: PostgresResource,
                            gemini: GeminiResource):
    """Polls in-flight shard batch jobs (a bounded number per tick) and launches ingestion
    for each that succeeded, resubmission for each that failed or expired."""
    settings = runner.ExtractionSettings.from_config(CONFIG)
    client = gemini.client()
    with postgres.connect() as conn:
        active = {j.job_id: j for j in ledger.jobs(conn, settings.version, ledger.ACTIVE_JOB_STATES)
                  if j.shard is not None}
        waiting = [j for j in ledger.jobs(conn, settings.version, ("succeeded",)) if j.shard is not None]
        if not active and not waiting:
            return dg.SkipReason("no shard batch jobs in flight")
        polled = [completion.Polled(j.job_id, j.shard, "succeeded") for j in waiting]
        chosen = completion.jobs_to_poll(list(active), int(context.cursor or 0), MAX_POLLS_PER_TICK)
        for job_id in chosen:
            try:
                status = runner.refresh(conn, client, settings, active[job_id])
            except ProviderError as err:  # a failed read is not an empty answer: try again next tick
                context.log.warning(f"job {job_id}: {err}")
                continue
            polled.append(completion.Polled(job_id, active[job_id].shard, status.state))
    if chosen:
        context.update_cursor(str(chosen[-1]))
    runs = [dg.RunRequest(run_key=launch.run_key, job_name=launch.job, partition_key=shard_key(launch.shard))
            for launch in completion.launches(polled)]
    return runs or dg.SkipReason(f"polled {len(chosen)} of {len(active)} jobs in flight; none finished")
