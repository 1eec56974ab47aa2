"""Jobs, the pilot, and the batch-completion sensor."""

import dagster as dg

from polymath_assets.defs.concepts import canonical_concepts
from polymath_assets.defs.embeddings import passage_embeddings
from polymath_assets.defs.extraction import gemini_batch_jobs, passage_concepts
from polymath_assets.defs.graph import neo4j_concept_graph
from polymath_assets.defs.passages import pending_passages
from polymath_assets.defs.resources import GeminiResource, PostgresResource
from polymath_assets.extraction import completion, runner
from polymath_assets.gemini.client import ProviderError
from polymath_assets.kb import ledger
from polymath_assets.kb.sensor_state import shard_states
from polymath_assets.shards import parse_shard_key, shard_key

MAX_POLLS_PER_TICK = 20

# Launch partition backfills of this job over all shards for the full run.
submit_batches = dg.define_asset_job(
    "submit_batches", selection=[pending_passages, gemini_batch_jobs],
    description="Select a shard's pending passages and submit them as a Gemini batch job (the backfill).")

# Embeddings and the graph follow in the same run; the blocking gate checks on
# passage_concepts keep a shard that fails a gate out of both.
ingest_concepts = dg.define_asset_job(
    "ingest_concepts", selection=[passage_concepts, passage_embeddings, canonical_concepts, neo4j_concept_graph],
    description="Load a shard's finished batch results; if its gates pass, embed them, resolve their new "
                "surfaces to canonical concepts and project the shard to the graph.")


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

    polymath = postgres.config()  # (``config`` is the op's own run config)
    settings = runner.ExtractionSettings.from_config(polymath)
    with postgres.connect() as conn:
        added = runner.select_pilot(conn, settings, config.size)
        context.log.info("continuing the unfinished pilot" if added is None else f"{added} passages selected")
        summary = drive(conn, gemini.client(), settings, pilot=True, poll_interval_s=config.poll_interval_s,
                        timeout_s=config.timeout_s, report=context.log.info)
        runner.finish_run(conn, settings, "pilot", {"concepts_loaded": summary.concepts_loaded})
        report = write_extraction_report(conn, settings, polymath.runlog_dir, label="pilot",
                                         thresholds=Thresholds.from_config(polymath))
    context.log.info(f"QC report {report.path}\n{report.verdict_lines()}")
    if not report.passed:
        raise dg.Failure(description=f"pilot gates failed:\n{report.verdict_lines()}",
                         metadata={"qc report": dg.MetadataValue.path(str(report.path))})


@dg.job(description="The pilot: 200 random pending passages end to end, gated by the QC report.")
def pilot():
    run_pilot()


SENSOR_WORK_TAG = "polymath/sensor_work"
IN_PROGRESS = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
               dg.DagsterRunStatus.STARTED]
FAILED = [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


def _busy_shards(instance: dg.DagsterInstance) -> set[tuple[str, int]]:
    """(job, shard) of the runs of our two jobs that are queued or in progress."""
    busy = set()
    for job_name in (completion.INGEST_JOB, completion.SUBMIT_JOB):
        for record in instance.get_run_records(dg.RunsFilter(job_name=job_name, statuses=IN_PROGRESS)):
            partition = record.dagster_run.tags.get("dagster/partition")
            if partition:
                busy.add((job_name, parse_shard_key(partition)))
    return busy


def _failed_runs(instance: dg.DagsterInstance, works: list[str]) -> dict[str, int]:
    return {work: len(instance.get_run_records(dg.RunsFilter(tags={SENSOR_WORK_TAG: work}, statuses=FAILED)))
            for work in works}


@dg.sensor(jobs=[ingest_concepts, submit_batches], minimum_interval_seconds=60,
           default_status=dg.DefaultSensorStatus.RUNNING)
def batch_completion_sensor(context: dg.SensorEvaluationContext, postgres: PostgresResource,
                            gemini: GeminiResource):
    """Polls in-flight shard batch jobs (a bounded number per tick), then launches from the
    ledger's state: ingestion for each shard with a succeeded job not yet ingested,
    resubmission for each shard with requests waiting and nothing in flight. A run that
    failed is launched again on a later tick; a shard with a run queued or going is left."""
    settings = runner.ExtractionSettings.from_config(postgres.config())
    client = gemini.client()
    with postgres.connect() as conn:
        active = {j.job_id: j for j in ledger.jobs(conn, settings.version, ledger.ACTIVE_JOB_STATES)
                  if j.shard is not None}
        chosen = completion.jobs_to_poll(list(active), int(context.cursor or 0), MAX_POLLS_PER_TICK)
        for job_id in chosen:
            try:
                runner.refresh(conn, client, settings, active[job_id])  # commits the new state
            except ProviderError as err:  # a failed read is not an empty answer: try again next tick
                context.log.warning(f"job {job_id}: {err}")
        states = shard_states(conn, settings.version, settings.max_attempts)
    if chosen:
        context.update_cursor(str(chosen[-1]))
    candidates = completion.launches(states, set(), {})
    found = completion.launches(states, _busy_shards(context.instance),
                                _failed_runs(context.instance, [c.work for c in candidates]))
    runs = [dg.RunRequest(run_key=launch.run_key, job_name=launch.job, partition_key=shard_key(launch.shard),
                          tags={SENSOR_WORK_TAG: launch.work})
            for launch in found]
    return runs or dg.SkipReason(f"polled {len(chosen)} of {len(active)} jobs in flight; nothing to launch")
