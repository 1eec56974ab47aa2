"""Jobs, the pilot, the settle run and the batch-completion sensor."""

import time
from typing import Optional

import dagster as dg

from polymath_assets.config import Config
from polymath_assets.defs.execution import (
    SETTLE_CHAIN,
    STARTED_BY_TAG,
    ShardRunner,
    backfill_of,
    fail_orphaned_runs,
    materialize_report,
    repair_and_carry_on,
)
from polymath_assets.defs.placement import GPU_STEP_TAGS
from polymath_assets.defs.resources import RESOURCE_KEYS, GeminiResource, PostgresResource
from polymath_assets.extraction import completion, runner
from polymath_assets.kb import ledger
from polymath_assets.kb.sensor_state import shard_states
from polymath_assets.operations.compare import compare_versions, parse_versions
from polymath_assets.operations.extraction import poll_jobs, run_pilot
from polymath_assets.operations.shard_runs import corpus_settled, settle_ready
from polymath_assets.shards import parse_shard_key, shard_key

MAX_POLLS_PER_TICK = 20
SENSOR_WORK_TAG = "polymath/sensor_work"
IN_PROGRESS = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
               dg.DagsterRunStatus.STARTED]
FAILED = [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


class PilotConfig(dg.Config):
    size: int = 200
    poll_interval_s: float = 10.0
    timeout_s: float = 3 * 3600.0
    compare: str = ""
    """Two prompt versions (e.g. "concepts-v1,concepts-v2"): extract the same sample with both
    and report them side by side instead (tokens, cost and its 550k projection, concepts,
    types, located evidence, what one found and the other did not)."""


class RepairConfig(dg.Config):
    shard: Optional[int] = None
    """The shard to repair (its number, e.g. 12 for shard-012); empty: every shard."""
    poll_interval_s: float = 10.0
    timeout_s: float = 3 * 3600.0


@dg.op(name="run_pilot",
       description="Select a random sample of pending passages, extract, load, and write the QC report.")
def run_pilot_op(context: dg.OpExecutionContext, config: PilotConfig, postgres: PostgresResource,
                 gemini: GeminiResource) -> None:
    polymath = postgres.config()  # (``config`` is the op's own run config)
    settings = runner.ExtractionSettings.for_run(polymath, context.run_id)
    with postgres.connect() as conn:
        if config.compare:
            try:
                versions = parse_versions(config.compare)
            except ValueError as err:
                raise dg.Failure(description=str(err), allow_retries=False) from None
            result = compare_versions(conn, gemini.client(), settings, versions, config.size,
                                      poll_interval_s=config.poll_interval_s, timeout_s=config.timeout_s,
                                      progress=context.log.info)
            context.log.info("\n".join(result.lines()))
            return
        outcome = run_pilot(conn, gemini.client(), settings, polymath, size=config.size,
                            poll_interval_s=config.poll_interval_s, timeout_s=config.timeout_s,
                            progress=context.log.info)
    report = outcome.report
    context.log.info(f"QC report {report.path}\n{report.verdict_lines()}")
    if not report.passed:
        raise dg.Failure(description=f"pilot gates failed:\n{report.verdict_lines()}",
                         metadata={"qc report": dg.MetadataValue.path(str(report.path))})


@dg.job(name="pilot", description="The pilot: 200 random pending passages end to end, gated by the QC report.")
def pilot():
    run_pilot_op()


def settle_job(assets: list[dg.AssetsDefinition]) -> dg.JobDefinition:
    @dg.op(required_resource_keys=set(RESOURCE_KEYS))
    def settle_ready_shards(context: dg.OpExecutionContext) -> None:
        """Every shard whose batch job has finished: its chain of assets (concepts and gates,
        embeddings, canonical concepts, graph) as its own run, one shard after another in this
        process, while more jobs finish; then the corpus QC report once nothing is waiting
        or in flight. A shard held back by a gate is reported and the others go on."""
        config: Config = context.resources.postgres.config()
        instance = context.instance
        for run_id in fail_orphaned_runs(instance):
            context.log.warning(f"run {run_id} was left unfinished by a process that is gone; marked failed")
        resources = {key: getattr(context.resources, key) for key in RESOURCE_KEYS}
        tags = {STARTED_BY_TAG: f"settle run {context.run_id}"}
        settings = runner.ExtractionSettings.for_run(config, context.run_id)
        client = context.resources.gemini.client()
        with context.resources.postgres.connect() as conn:
            outcomes = settle_ready(
                conn, settings, ShardRunner(instance, assets, SETTLE_CHAIN, resources, tags, lambda shard: backfill_of(
                    instance, ledger.latest_job_owner(conn, settings.version, shard))),
                lambda: poll_jobs(conn, client, settings, ledger.jobs(conn, settings.version,
                                                                      ledger.ACTIVE_JOB_STATES)),
                progress=context.log.info)
            settled = corpus_settled(conn, settings)
        if settled:
            outcomes.qc_verdict = materialize_report(instance, assets, resources, tags, context.log.info)
        context.log.info(outcomes.summary())
        if outcomes.shards_failed:  # an error, not a gate: the sensor launches this work again
            raise dg.Failure(description=outcomes.summary(), allow_retries=False)

    # The settle run executes each shard's chain in its own process (the model loaded once),
    # so under Kubernetes the run's pod is the one that needs the GPU node.
    @dg.job(name=completion.SETTLE_JOB, tags=GPU_STEP_TAGS,
            description="Settle every shard whose batch job finished: concepts and gates, then embeddings, "
                        "canonical concepts and the graph for the shards that pass, each shard its own run in one "
                        "process; the corpus QC report when nothing is left in flight. Launched by the "
                        "batch-completion sensor.")
    def settle_shards():
        settle_ready_shards()

    return settle_shards


def repair_job(assets: list[dg.AssetsDefinition]) -> dg.JobDefinition:
    @dg.op(required_resource_keys=set(RESOURCE_KEYS))
    def repair_shards(context: dg.OpExecutionContext, config: RepairConfig) -> None:
        """One bounded repair round (what `polymath repair` does): concepts whose evidence
        cannot be located, and passages extraction gave up on (unparsed or cut-off answers) are
        asked again, only those; then every shard that was held back and passes now carries
        on — its concepts accepted, embedded, resolved and projected — and the QC report is
        written again."""
        polymath: Config = context.resources.postgres.config()
        resources = {key: getattr(context.resources, key) for key in RESOURCE_KEYS}
        with context.resources.postgres.connect() as conn:
            result, outcomes = repair_and_carry_on(
                conn, context.resources.gemini.client(), runner.ExtractionSettings.for_run(polymath, context.run_id),
                polymath, config.shard, instance=context.instance, assets=assets, resources=resources,
                tags={STARTED_BY_TAG: f"repair run {context.run_id}"}, poll_interval_s=config.poll_interval_s,
                timeout_s=config.timeout_s, progress=context.log.info)
        if outcomes.shards_ok or outcomes.shards_gated or outcomes.shards_failed:
            context.log.info(outcomes.summary())
        if not result.passed:
            raise dg.Failure(description="\n".join(result.lines()), allow_retries=False)

    @dg.job(name="repair", tags=GPU_STEP_TAGS,
            description="A bounded repair round for held-back shards (unlocated evidence, unparsed or cut-off "
                        "answers, dead passages), then the chain for every shard that passes again. The run "
                        "config's shard picks one; empty repairs every shard.")
    def repair_run():
        repair_shards()

    return repair_run


def _busy(instance: dg.DagsterInstance) -> set[tuple[str, int | None]]:
    """(job, shard) of the runs of the sensor's jobs that are queued or in progress; the
    settle run as (SETTLE_JOB, None)."""
    busy: set[tuple[str, int | None]] = set()
    for record in instance.get_run_records(dg.RunsFilter(job_name=completion.SUBMIT_JOB, statuses=IN_PROGRESS)):
        partition = record.dagster_run.tags.get("dagster/partition")
        if partition:
            busy.add((completion.SUBMIT_JOB, parse_shard_key(partition)))
    if instance.get_run_records(dg.RunsFilter(job_name=completion.SETTLE_JOB, statuses=IN_PROGRESS), limit=1):
        busy.add((completion.SETTLE_JOB, None))
    return busy


def _failed_runs(instance: dg.DagsterInstance, works: list[str]) -> dict[str, int]:
    return {work: len(instance.get_run_records(dg.RunsFilter(tags={SENSOR_WORK_TAG: work}, statuses=FAILED)))
            for work in works}


def completion_sensor(settle: dg.JobDefinition, submit,
                      poll_budget_s: float) -> dg.SensorDefinition:
    @dg.sensor(name="batch_completion_sensor", jobs=[settle, submit], minimum_interval_seconds=30,
               default_status=dg.DefaultSensorStatus.RUNNING)
    def batch_completion_sensor(context: dg.SensorEvaluationContext, postgres: PostgresResource,
                                gemini: GeminiResource):
        """Polls in-flight shard batch jobs (at most 20 a tick, round-robin, and never past
        the tick's deadline), then launches from the ledger's state: one settle run for every
        shard with a succeeded job not yet ingested, a resubmission for each shard with
        requests waiting and nothing in flight. A failed run is launched again on a later
        tick; work with a run queued or going is left. The tick's message names the jobs
        polled and the runs launched."""
        deadline = time.monotonic() + poll_budget_s
        settings = runner.ExtractionSettings.from_config(postgres.config())
        with postgres.connect() as conn:
            active = {j.job_id: j for j in ledger.jobs(conn, settings.version, ledger.ACTIVE_JOB_STATES)
                      if j.shard is not None}
            chosen = completion.jobs_to_poll(list(active), int(context.cursor or 0), MAX_POLLS_PER_TICK)
            polled = poll_jobs(conn, gemini.client(), settings, [active[j] for j in chosen], deadline=deadline)
            states = shard_states(conn, settings.version, settings.max_attempts)
        reached = [j for j in chosen if j not in polled.not_reached]
        if reached:
            context.update_cursor(str(reached[-1]))
        candidates, _ = completion.launches(states, set(), {})
        found, given_up = completion.launches(states, _busy(context.instance),
                                              _failed_runs(context.instance, [c.work for c in candidates]))
        message = completion.tick_message({j: s.state for j, s in polled.statuses.items()}, polled.errors,
                                          polled.not_reached, len(active), found, given_up)
        context.log.info(message)
        runs = [dg.RunRequest(run_key=launch.run_key, job_name=launch.job,
                              partition_key=None if launch.shard is None else shard_key(launch.shard),
                              tags={SENSOR_WORK_TAG: launch.work})
                for launch in found]
        return dg.SensorResult(run_requests=runs, skip_reason=None if runs else message)

    return batch_completion_sensor


def build_jobs(config: Config, assets: list[dg.AssetsDefinition]):
    """(jobs, sensors) of the code location."""
    # Launch partition backfills of this job (or of its two assets) over all shards for the
    # full run: one run submits every shard (a single-run backfill policy).
    submit_batches = dg.define_asset_job(
        completion.SUBMIT_JOB, selection=["pending_passages", "gemini_batch_jobs"],
        description="Select each shard's pending passages and submit them as a Gemini batch job (the backfill).")
    # One shard's chain after submission, for an operator re-running a shard from the UI.
    ingest_concepts = dg.define_asset_job(
        "ingest_concepts", selection=list(SETTLE_CHAIN),
        description="Load a shard's finished batch results; if its gates pass, embed them, resolve their new "
                    "surfaces to canonical concepts and project the shard to the graph.")
    settle = settle_job(assets)
    return [pilot, submit_batches, ingest_concepts, settle, repair_job(assets)], [
        completion_sensor(settle, submit_batches, config.sensor_poll_budget_s)]
