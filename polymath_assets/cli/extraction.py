"""`polymath pilot`, `backfill`, `status` and `rollback`: extraction through the Gemini
batch API (or the offline emulator)."""

from __future__ import annotations

import json
import sys

import click

from polymath_assets.cli.common import (
    config,
    database,
    exit_on_failed_gates,
    interruptible,
    offline_option,
    poll_option,
    timeout_option,
)


def _client(cfg, offline: bool | None):
    from polymath_assets.local.services import batch_client

    return batch_client(cfg, offline)


def _versions(compare: str) -> tuple[str, str]:
    from polymath_assets.operations.compare import parse_versions

    try:
        return parse_versions(compare)
    except ValueError as err:
        raise click.UsageError(str(err)) from None


def _show_report(report, summary, label: str, provider: str) -> None:
    from polymath_assets.operations.extraction import OFFLINE_GATE_HINT

    click.echo(f"{label}: {summary.jobs_submitted} jobs submitted, {summary.jobs_ingested} ingested, "
               f"{summary.concepts_loaded} concepts loaded")
    click.echo(report.verdict_lines())
    if not report.passed and provider == "gemini-emulator":
        click.echo(OFFLINE_GATE_HINT)
    click.echo(f"QC report: {report.path}")


@click.command()
@click.option("--size", default=200, show_default=True, help="Passages in the pilot sample.")
@offline_option
@poll_option
@timeout_option
@click.option("--dry-run", is_flag=True, help="Select and estimate, submit nothing.")
@click.option("--compare", default=None, metavar="VERSION_A,VERSION_B",
              help="Extract the same random sample with two prompt versions (e.g. concepts-v1,concepts-v2) and "
                   "report them side by side.")
@interruptible
def pilot(size: int, offline: bool | None, poll_interval: float, timeout: float | None, dry_run: bool,
          compare: str | None) -> None:
    """Extract concepts for a random sample of pending passages and write a QC report."""
    from polymath_assets.extraction.estimate import project
    from polymath_assets.extraction.runner import ExtractionSettings
    from polymath_assets.kb import ledger
    from polymath_assets.kb.db import connect
    from polymath_assets.operations.compare import compare_versions
    from polymath_assets.operations.extraction import run_pilot

    cfg = config()
    settings = ExtractionSettings.from_config(cfg)
    versions = _versions(compare) if compare is not None else None
    with connect(database(cfg)) as conn:
        if dry_run:
            eligible = ledger.unselected_count(conn, settings.version)
            click.echo(f"dry run: a pilot would select {min(size, eligible)} of the {eligible} passages that lack "
                       f"{settings.version} concepts and are not in the ledger; nothing submitted")
            for line in project(conn, settings).lines():
                click.echo(line)
            return
        if versions is not None:
            result = compare_versions(conn, _client(cfg, offline), settings, versions, size,
                                      poll_interval_s=poll_interval, timeout_s=timeout, progress=click.echo)
            for line in result.lines():
                click.echo(line)
            return
        client = _client(cfg, offline)  # before selecting anything: a missing key is reported first
        outcome = run_pilot(conn, client, settings, cfg, size=size, poll_interval_s=poll_interval,
                            timeout_s=timeout, progress=click.echo)
    _show_report(outcome.report, outcome.summary, "pilot", client.provider)
    click.echo(f"pilot sample {outcome.selection}: "
               + ", ".join(f"{n} {st}" for st, n in sorted(outcome.states.items())))
    exit_on_failed_gates(outcome.report, "pilot")


@click.command()
@offline_option
@poll_option
@timeout_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--no-resume", is_flag=True, help="Start this extractor version's bookkeeping afresh (concepts stay).")
@click.option("--dry-run", is_flag=True, help="Select and estimate, submit nothing.")
@interruptible
def backfill(offline: bool | None, poll_interval: float, timeout: float | None, yes: bool, no_resume: bool,
             dry_run: bool) -> None:
    """Extract concepts for every passage that lacks them (shows the estimated cost and asks first)."""
    from polymath_assets.extraction.runner import ExtractionSettings
    from polymath_assets.kb import ledger
    from polymath_assets.kb.db import connect
    from polymath_assets.operations.extraction import check_budget, drive, finish, plan_backfill
    from polymath_assets.progress import progress_bar

    cfg = config()
    settings = ExtractionSettings.from_config(cfg)
    client = None if dry_run else _client(cfg, offline)  # a missing key is reported before anything changes
    with connect(database(cfg)) as conn:
        if no_resume and not dry_run:
            deleted = ledger.forget_version(conn, settings.version, concepts=False)
            conn.commit()
            click.echo(f"--no-resume: {settings.version} bookkeeping cleared {deleted}; "
                       "money already spent stays in the spend ledger and counts against the cap")
        with progress_bar(total=settings.shard_count, desc="select", unit="shard") as bar:
            plan, settings = plan_backfill(conn, client, settings, dry_run=dry_run, on_shard=lambda _: bar.update(1))
        click.echo(f"backfill {settings.version}: {plan.selected} passages newly selected; {plan.estimate.line()} "
                   f"(already committed ${plan.committed_usd:.4f}, cap ${settings.budget_usd:.2f})")
        for line in plan.projection.lines():
            click.echo(line)
        if dry_run:
            click.echo(f"dry run: {plan.unselected} more passages lack {settings.version} concepts and would be "
                       "selected; nothing submitted")
            return
        check_budget(conn, settings, plan.estimate)
        if plan.estimate.requests and not yes and not click.confirm("Submit?", default=False):
            raise click.ClickException("not confirmed; nothing submitted")
        summary = drive(conn, client, settings, pilot=False, poll_interval_s=poll_interval, timeout_s=timeout,
                        progress=click.echo)
        for note in summary.notes:
            click.echo(note)
        report = finish(conn, settings, cfg, "backfill", summary)
    _show_report(report, summary, "backfill", client.provider)
    exit_on_failed_gates(report, "backfill")


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status_command(as_json: bool) -> None:
    """Per shard and in total: pending / in flight / done / failed / dead, embeddings, graph
    sync watermark, and cost so far against the estimate."""
    from polymath_assets.kb.db import connect
    from polymath_assets.operations.status import STATES, corpus_status

    cfg = config()
    with connect(database(cfg)) as conn:
        status = corpus_status(conn, cfg)
    if as_json:
        click.echo(json.dumps(status.as_json(), indent=2))
        return
    total = status.totals
    click.echo(f"extractor version {status.version}: {status.passages} passages, {sum(total.values())} selected; "
               f"embeddings ({status.embedding_model}) {status.embedded}/{status.passages}; "
               f"graph synced for {status.synced_shards} shards")
    header = " ".join(f"{st:>9}" for st in STATES)
    click.echo(f"{'shard':>9} {header} {'embedded':>13} {'cost USD':>10}  graph synced up to")
    for shard in status.shards:
        click.echo(f"{shard.shard:>9} " + " ".join(f"{shard.states.get(st, 0):>9}" for st in STATES)
                   + f" {f'{shard.embedded}/{shard.passages}':>13} {shard.cost_usd:>10.4f}  "
                   + (shard.graph_synced_up_to or "-")[:19])
    click.echo(f"{'total':>9} " + " ".join(f"{total[st]:>9}" for st in STATES)
               + f" {f'{status.embedded}/{status.passages}':>13}")
    if status.pilot_cost_usd is not None:
        click.echo(f"pilot jobs (all shards): ${status.pilot_cost_usd:.4f}")
    costs = status.cost
    click.echo(f"cost: actual ${costs['actual_usd']:.4f} so far; ${costs['reserved_usd']:.4f} reserved for jobs in "
               f"flight (estimated ${costs['estimated_usd']:.4f} for the jobs submitted); cap POLYMATH_BUDGET_USD="
               f"${status.budget_usd:.2f}. Per-shard cost is actual, or the reserved estimate while in flight.")
    for line in status.projection.lines():
        click.echo(line)


@click.command("repair")
@click.option("--shard", type=int, default=None, help="Only this shard (default: every shard of the version).")
@offline_option
@poll_option
@timeout_option
@interruptible
def repair_command(shard: int | None, offline: bool | None, poll_interval: float, timeout: float | None) -> None:
    """One bounded repair round: concepts whose evidence cannot be located, and passages
    extraction gave up on (answers that did not parse or were cut off, every attempt used)
    are asked again (only those), merged into
    the same version's rows, and the shards' gates evaluated again; a shard that passes now
    carries on (embeddings, canonical concepts, graph) and the QC report is written again.
    Exit 1 if a shard is still held back."""
    from polymath_assets.defs.execution import repair_from_the_terminal

    cfg = config()
    database(cfg)  # the schema checked before anything is sent
    result, outcomes = repair_from_the_terminal(cfg, shard=shard, offline=offline, poll_interval_s=poll_interval,
                                           timeout_s=timeout, progress=click.echo)
    if outcomes.shards_ok or outcomes.shards_gated or outcomes.shards_failed:
        click.echo(outcomes.summary())
    if not result.passed or outcomes.shards_gated or outcomes.shards_failed:
        sys.exit(1)


@click.command()
@click.option("--extractor-version", "version", required=True, help="The version to remove, e.g. gemini_batch_v1.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dry-run", is_flag=True, help="Show what would be deleted.")
def rollback(version: str, yes: bool, dry_run: bool) -> None:
    """Delete one extractor version's concepts, ledger and checkpoint; other versions stay."""
    from polymath_assets.kb import ledger
    from polymath_assets.kb.concepts import version_row_count
    from polymath_assets.kb.db import connect

    with connect(database(config())) as conn:
        known = ledger.known_versions(conn)
        if version not in known:
            raise click.ClickException(
                f"unknown extractor version {version!r}; present: {', '.join(sorted(known)) or 'none'}")
        rows = version_row_count(conn, version)
        click.echo(f"{version}: {rows} concept rows, its ledger and checkpoint would be deleted")
        if dry_run:
            return
        if not yes and not click.confirm("Delete?", default=False):
            raise click.ClickException("not confirmed; nothing deleted")
        deleted = ledger.forget_version(conn, version, concepts=True)
        conn.commit()
        click.echo(f"deleted {deleted} (the spend ledger keeps what {version} cost)")


COMMANDS = [pilot, backfill, status_command, rollback, repair_command]
