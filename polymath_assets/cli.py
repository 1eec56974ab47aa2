"""The ``polymath`` command: services, corpus, and (as the pipeline grows) its operations."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import click

from polymath_assets.config import Config, ConfigError, settings_table_markdown

# platformdirs warns on every start when XDG_RUNTIME_DIR is unset (containers, CI).
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def _config() -> Config:
    return Config.from_env()


def _operator_errors() -> tuple[type[Exception], ...]:
    """Errors that carry a complete message for the operator: shown without a traceback."""
    from polymath_assets.embedding.pipeline import EmbeddingDimensionMismatch
    from polymath_assets.extraction.runner import BudgetExceeded
    from polymath_assets.gemini.client import ProviderError
    from polymath_assets.graph.connection import GraphUnavailable
    from polymath_assets.kb.db import DatabaseUnavailable
    from polymath_assets.kb.migrate import SchemaError

    return (ConfigError, DatabaseUnavailable, SchemaError, GraphUnavailable, ProviderError, BudgetExceeded,
            EmbeddingDimensionMismatch)


def _lost_connections() -> tuple[type[Exception], ...]:
    """A server that went away mid-command (not refused at the start: DatabaseUnavailable)."""
    import psycopg

    from polymath_assets.gemini.client import TRANSPORT_ERRORS

    return (psycopg.OperationalError, psycopg.InterfaceError, *TRANSPORT_ERRORS)


def _lost_connection_message(err: Exception) -> str:
    import psycopg

    detail = (str(err).strip().splitlines() or [type(err).__name__])[0]
    if isinstance(err, (psycopg.OperationalError, psycopg.InterfaceError)):
        return (f"lost the connection to PostgreSQL ({detail}). Committed work is kept: check the database "
                "(`polymath services status`), then run the same command again to resume")
    return (f"lost the connection to the Gemini provider ({type(err).__name__}: {detail}). Jobs already created "
            "are recorded or found again by name: check the network, then run the same command again to resume")


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        from polymath_assets.interrupts import RESUME_MESSAGE, Interrupted

        try:
            return super().invoke(ctx)
        except Interrupted as err:
            click.echo(RESUME_MESSAGE, err=True)
            sys.exit(err.exit_code)
        except KeyboardInterrupt:  # before the handlers were installed, or a command without them
            click.echo(RESUME_MESSAGE, err=True)
            sys.exit(130)
        except _lost_connections() as err:
            raise click.ClickException(_lost_connection_message(err)) from None
        except _operator_errors() as err:
            hint = " (state is saved; run the same command again to continue)" if _resumable(err) else ""
            raise click.ClickException(f"{err}{hint}") from None
        except RuntimeError as err:  # e.g. an embedded server that would not start: its message says why
            if type(err) is RuntimeError:
                raise click.ClickException(str(err)) from None
            raise


def _resumable(err: Exception) -> bool:
    from polymath_assets.extraction.runner import BudgetExceeded
    from polymath_assets.gemini.client import ProviderError

    return isinstance(err, (BudgetExceeded, ProviderError))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Polymath concept pipeline: typed concepts with evidence, embeddings and a concept graph."""


@main.command("config")
def config_command() -> None:
    """Print the configuration in effect (secrets shown only as set/unset)."""
    for key, value in _config().public_view().items():
        click.echo(f"{key:20} {value}")


@main.command("config-table", hidden=True)
@click.option("--update", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Rewrite the table between the markers in this file (the README).")
def config_table(update: Path | None) -> None:
    """The README's configuration table, generated from polymath_assets.config."""
    table = settings_table_markdown()
    if update is None:
        click.echo(table)
        return
    start, end = "<!-- config-table:start -->", "<!-- config-table:end -->"
    text = update.read_text()
    if start not in text or end not in text:
        raise click.ClickException(f"{update} lacks the {start} / {end} markers")
    head, rest = text.split(start, 1)
    update.write_text(f"{head}{start}\n{table}\n{end}{rest.split(end, 1)[1]}")


@main.command("assets")
def assets_command() -> None:
    """List the Dagster assets: partitions, upstream assets and pools."""
    from polymath_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        parts = node.partitions_def
        partitions = f"{len(parts.get_partition_keys())} shard partitions" if parts else "unpartitioned"
        upstream = ", ".join(sorted(k.to_user_string() for k in node.parent_keys)) or "-"
        pools = f"  pool {','.join(sorted(node.pools))}" if node.pools else ""
        click.echo(f"{key.to_user_string():22} {partitions:22} upstream: {upstream}{pools}")


# --- services -----------------------------------------------------------------------

@main.group()
def services() -> None:
    """Start, stop and inspect PostgreSQL, the graph server and (offline) the Gemini emulator."""


@services.command("up")
def services_up() -> None:
    """Start the embedded servers that are needed (idempotent) and migrate the schema."""
    from polymath_assets.kb.db import migrate_database
    from polymath_assets.local import services as svc

    config = _config()
    endpoints = svc.up_all(config)
    applied = migrate_database(endpoints.postgres_dsn, config)
    click.echo(f"postgres  {endpoints.postgres_dsn}")
    click.echo(f"graph     {endpoints.graph_uri}")  # a socket path and a password *file*: no secret
    if endpoints.emulator_url:
        click.echo(f"emulator  {endpoints.emulator_url}")
    if applied:
        click.echo(f"schema    applied {', '.join(applied)}")
    else:
        click.echo("schema    up to date")


@services.command("down")
def services_down() -> None:
    """Stop the embedded servers (external servers are never touched)."""
    from polymath_assets.local import services as svc

    for name, outcome in svc.down(_config()).items():
        click.echo(f"{name:9} {outcome}")


@services.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output for scripts.")
def services_status(as_json: bool) -> None:
    """Which servers are in use and whether each answers. Exit 1 if one does not."""
    from polymath_assets.local import services as svc

    statuses = svc.status(_config())
    by_name = {s.name: s for s in statuses}
    if as_json:
        click.echo(json.dumps({
            "postgres_dsn": by_name["postgres"].uri,
            "graph_uri": by_name["graph"].uri,
            "services": [s.as_dict() for s in statuses],
        }, indent=2))
    else:
        for s in statuses:
            state = "answering" if s.answering else "NOT answering"
            click.echo(f"{s.name:9} {s.mode:9} {state:13} {s.uri or '-'}  {s.detail}")
    sys.exit(0 if all(s.answering for s in statuses) else 1)


# --- corpus -------------------------------------------------------------------------

@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def ingest(paths: tuple[Path, ...]) -> None:
    """Load documents and passages from JSONL or Parquet corpus files (all or nothing per file)."""
    from polymath_assets.corpus.ingest import CorpusRejected, ingest_file
    from polymath_assets.kb.db import prepare, session
    from polymath_assets.local.services import postgres_dsn
    from polymath_assets.progress import progress_bar

    config = _config()
    dsn = postgres_dsn(config)
    prepare(dsn, config)
    failed = False
    with session(dsn) as conn:
        for path in paths:
            with progress_bar(desc=f"ingest {path.name}", unit="rec") as bar:
                try:
                    result = ingest_file(conn, path, progress=bar.update)
                except CorpusRejected as rejected:
                    bar.close()
                    click.echo(rejected.result.error_report(), err=True)
                    failed = True
                    continue
            click.echo(result.summary())
    sys.exit(1 if failed else 0)


@main.command("generate-corpus")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--passages", default=1000, show_default=True, help="About this many passages.")
@click.option("--seed", default=7, show_default=True)
def generate_corpus(out: Path, passages: int, seed: int) -> None:
    """Write a deterministic synthetic corpus (JSONL) for tests and benchmarks."""
    from polymath_assets.corpus.synthetic import documents_for_passages, generate, write_jsonl

    count = write_jsonl(out, generate(documents_for_passages(passages), seed=seed))
    click.echo(f"wrote {count} records to {out}")


# --- extraction -----------------------------------------------------------------------

_offline_option = click.option("--offline", is_flag=True, default=None,
                               help="Use the offline Gemini emulator (also POLYMATH_OFFLINE=1).")
_poll_option = click.option("--poll-interval", default=5.0, show_default=True, help="Seconds between job polls.")
_timeout_option = click.option("--timeout", default=None, type=float,
                               help="Stop waiting after this many seconds (jobs stay in flight; run again).")


def _interruptible(command):
    """SIGINT/SIGTERM stop the command at its next safe point (exit 130/143), not mid-step."""
    import functools

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from polymath_assets.interrupts import handle_signals

        with handle_signals():
            return command(*args, **kwargs)

    return wrapper


def _exit_on_failed_gates(report, label: str) -> None:
    if not report.passed:
        click.echo(f"{label}: a quality gate failed (see {report.path}); exit status 1", err=True)
        sys.exit(1)


def _extraction_context(offline: bool | None):
    from polymath_assets.extraction.runner import ExtractionSettings
    from polymath_assets.kb.db import prepare
    from polymath_assets.local.services import batch_client, postgres_dsn

    config = _config()
    dsn = postgres_dsn(config)
    prepare(dsn, config)
    return config, dsn, ExtractionSettings.from_config(config), (lambda: batch_client(config, offline))


@main.command()
@click.option("--size", default=200, show_default=True, help="Passages in the pilot sample.")
@_offline_option
@_poll_option
@_timeout_option
@click.option("--dry-run", is_flag=True, help="Select and estimate, submit nothing.")
@_interruptible
def pilot(size: int, offline: bool | None, poll_interval: float, timeout: float | None, dry_run: bool) -> None:
    """Extract concepts for a random sample of pending passages and write a QC report."""
    from polymath_assets.extraction import runner
    from polymath_assets.kb import ledger
    from polymath_assets.kb.db import connect

    config, dsn, settings, make_client = _extraction_context(offline)
    with connect(dsn) as conn:
        if dry_run:
            eligible = ledger.unselected_count(conn, settings.version)
            click.echo(f"dry run: a pilot would select {min(size, eligible)} of the {eligible} passages that lack "
                       f"{settings.version} concepts and are not in the ledger; nothing submitted")
            return
        client = make_client()  # before selecting anything: a missing key is reported first
        added = runner.select_pilot(conn, settings, size)
        settings = runner.calibrate_tokens(conn, client, settings)
        estimate = runner.estimate_pending(conn, settings, selection=runner.pilot_selection(conn, settings))
        selection = "continuing the unfinished pilot" if added is None else f"{added} passages selected"
        click.echo(f"pilot: {selection}; {estimate['requests']} requests waiting, "
                   f"≈{estimate['prompt_tokens']:,} input + {estimate['output_tokens']:,} output tokens, "
                   f"≈${estimate['estimated_cost_usd']:.4f} "
                   f"({settings.chars_per_token:.2f} characters per token, from countTokens)")
        report = _drive_and_report(conn, client, settings, config, pilot=True, poll_interval=poll_interval,
                                   timeout=timeout, label="pilot")
    _exit_on_failed_gates(report, "pilot")


@main.command()
@_offline_option
@_poll_option
@_timeout_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--no-resume", is_flag=True, help="Start this extractor version's bookkeeping afresh (concepts stay).")
@click.option("--dry-run", is_flag=True, help="Select and estimate, submit nothing.")
@_interruptible
def backfill(offline: bool | None, poll_interval: float, timeout: float | None, yes: bool, no_resume: bool,
             dry_run: bool) -> None:
    """Extract concepts for every passage that lacks them (shows the estimated cost and asks first)."""
    from polymath_assets.extraction import runner
    from polymath_assets.kb import control, ledger
    from polymath_assets.kb.db import connect
    from polymath_assets.progress import progress_bar

    config, dsn, settings, make_client = _extraction_context(offline)
    client = None if dry_run else make_client()  # a missing key is reported before anything changes
    with connect(dsn) as conn:
        if no_resume and not dry_run:
            deleted = ledger.forget_version(conn, settings.version, concepts=False)
            conn.commit()
            click.echo(f"--no-resume: {settings.version} bookkeeping cleared {deleted}; "
                       "money already spent stays in the spend ledger and counts against the cap")
        with progress_bar(total=settings.shard_count, desc="select", unit="shard") as bar:
            added = 0
            for shard in range(settings.shard_count):
                added += runner.select_shard(conn, settings, shard) if not dry_run else 0
                bar.update(1)
        if client is not None:
            settings = runner.calibrate_tokens(conn, client, settings)
        estimate = runner.estimate_pending(conn, settings)
        spent = control.spend_totals(conn, settings.version)["committed_estimate_usd"]
        click.echo(f"backfill {settings.version}: {added} passages newly selected; {estimate['requests']} requests "
                   f"to submit, ≈{estimate['prompt_tokens']:,} input + {estimate['output_tokens']:,} output tokens, "
                   f"≈${estimate['estimated_cost_usd']:.4f} (already committed ${spent:.4f}, "
                   f"cap ${settings.budget_usd:.2f})")
        if dry_run:
            click.echo(f"dry run: {ledger.unselected_count(conn, settings.version)} more passages lack "
                       f"{settings.version} concepts and would be selected; nothing submitted")
            return
        if spent + estimate["estimated_cost_usd"] > settings.budget_usd:
            raise click.ClickException(
                f"estimated total ${spent + estimate['estimated_cost_usd']:.4f} exceeds POLYMATH_BUDGET_USD="
                f"${settings.budget_usd:.2f}; raise the cap or run a smaller scope")
        if estimate["requests"] and not yes and not click.confirm("Submit?", default=False):
            raise click.ClickException("not confirmed; nothing submitted")
        report = _drive_and_report(conn, client, settings, config, pilot=False, poll_interval=poll_interval,
                                   timeout=timeout, label="backfill")
    _exit_on_failed_gates(report, "backfill")


def _drive_and_report(conn, client, settings, config, *, pilot: bool, poll_interval, timeout, label):
    from polymath_assets.extraction import runner
    from polymath_assets.extraction.pipeline import drive
    from polymath_assets.qc.gates import Thresholds
    from polymath_assets.qc.report import write_extraction_report

    summary = drive(conn, client, settings, pilot=pilot, poll_interval_s=poll_interval, timeout_s=timeout,
                    report=click.echo)
    for note in summary.notes:
        click.echo(note)
    runner.finish_run(conn, settings, label, {"jobs_submitted": summary.jobs_submitted,
                                              "concepts_loaded": summary.concepts_loaded})
    report = write_extraction_report(conn, settings, config.runlog_dir, label=label,
                                     thresholds=Thresholds.from_config(config))
    click.echo(f"{label}: {summary.jobs_submitted} jobs submitted, {summary.jobs_ingested} ingested, "
               f"{summary.concepts_loaded} concepts loaded")
    if pilot:
        from polymath_assets.kb import ledger

        selection = runner.pilot_selection(conn, settings)
        states = ledger.selection_states(conn, settings.version, selection) if selection else {}
        click.echo(f"pilot sample {selection}: " + ", ".join(f"{n} {st}" for st, n in sorted(states.items())))
    click.echo(report.verdict_lines())
    if not report.passed and client.provider == "gemini-emulator":
        from polymath_assets.pipeline_run import OFFLINE_GATE_HINT

        click.echo(OFFLINE_GATE_HINT)
    click.echo(f"QC report: {report.path}")
    return report


@main.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status_command(as_json: bool) -> None:
    """Per shard and in total: pending / in flight / done / failed / dead, embeddings, graph
    sync watermark, and cost so far against the estimate."""
    from polymath_assets.extraction.runner import ExtractionSettings
    from polymath_assets.kb import ledger
    from polymath_assets.kb.control import spend_by_shard, spend_totals
    from polymath_assets.kb.db import connect, prepare
    from polymath_assets.kb.status import embedding_coverage_by_shard, graph_watermarks
    from polymath_assets.local.services import postgres_dsn

    config = _config()
    dsn = postgres_dsn(config)
    prepare(dsn, config)
    settings = ExtractionSettings.from_config(config)
    with connect(dsn) as conn:
        by_shard = ledger.status_counts(conn, settings.version)
        costs = spend_totals(conn, settings.version)
        spend = spend_by_shard(conn, settings.version)
        embedded = embedding_coverage_by_shard(conn, config.shard_count, config.embedding_model)
        synced = graph_watermarks(conn)
    states = ("pending", "in_flight", "done", "failed", "dead")
    shards = sorted(set(by_shard) | set(embedded))
    total = {st: sum(c.get(st, 0) for c in by_shard.values()) for st in states}
    passages = sum(t for _, t in embedded.values())
    with_vectors = sum(e for e, _ in embedded.values())
    if as_json:
        click.echo(json.dumps({
            "extractor_version": settings.version, "passages": passages, "total": total,
            "shards": {str(k): v for k, v in sorted(by_shard.items())}, "cost": costs,
            "cost_by_shard": {("pilot" if k is None else str(k)): v
                              for k, v in sorted(spend.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))},
            "embeddings": {"model": config.embedding_model, "with_embedding": with_vectors, "passages": passages,
                           "shards": {str(k): {"with_embedding": e, "passages": t} for k, (e, t) in embedded.items()}},
            "graph_watermarks": {str(k): v for k, v in sorted(synced.items())},
        }, indent=2))
        return
    click.echo(f"extractor version {settings.version}: {passages} passages, {sum(total.values())} selected; "
               f"embeddings ({config.embedding_model}) {with_vectors}/{passages}; "
               f"graph synced for {len(synced)} shards")
    header = " ".join(f"{st:>9}" for st in states)
    click.echo(f"{'shard':>9} {header} {'embedded':>13} {'cost USD':>10}  graph synced up to")
    for shard in shards:
        counts = by_shard.get(shard, {})
        e, t = embedded.get(shard, (0, 0))
        money = spend.get(shard, {})
        cost = money.get("actual_usd", 0.0) + money.get("reserved_usd", 0.0)
        click.echo(f"{shard:>9} " + " ".join(f"{counts.get(st, 0):>9}" for st in states)
                   + f" {f'{e}/{t}':>13} {cost:>10.4f}  {synced.get(shard, '-')[:19]}")
    click.echo(f"{'total':>9} " + " ".join(f"{total[st]:>9}" for st in states) + f" {f'{with_vectors}/{passages}':>13}")
    if None in spend:
        click.echo(f"pilot jobs (all shards): ${spend[None]['actual_usd'] + spend[None]['reserved_usd']:.4f}")
    click.echo(f"cost: actual ${costs['actual_usd']:.4f} so far; ${costs['reserved_usd']:.4f} reserved for jobs in "
               f"flight (estimated ${costs['estimated_usd']:.4f} for the jobs submitted); cap POLYMATH_BUDGET_USD="
               f"${settings.budget_usd:.2f}. Per-shard cost is actual, or the reserved estimate while in flight.")


@main.command()
@click.option("--extractor-version", "version", required=True, help="The version to remove, e.g. gemini_batch_v1.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dry-run", is_flag=True, help="Show what would be deleted.")
def rollback(version: str, yes: bool, dry_run: bool) -> None:
    """Delete one extractor version's concepts, ledger and checkpoint; other versions stay."""
    from polymath_assets.kb import ledger
    from polymath_assets.kb.concepts import version_row_count
    from polymath_assets.kb.db import connect, prepare
    from polymath_assets.local.services import postgres_dsn

    config = _config()
    dsn = postgres_dsn(config)
    prepare(dsn, config)
    with connect(dsn) as conn:
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


# --- the whole pipeline, verification, search ------------------------------------------

@main.command("run")
@click.option("--shard", "shards", multiple=True, type=int, help="Only these shards (default: every shard with passages).")
@_offline_option
@_interruptible
def run_command(shards: tuple[int, ...], offline: bool | None) -> None:
    """Materialize the whole asset graph, shard by shard, then the QC report (in this process,
    recorded in the Dagster instance at DAGSTER_HOME so the UI shows the runs)."""
    from polymath_assets.pipeline_run import run_pipeline

    config = _config()
    outcome = run_pipeline(config, shards=shards or None, offline=offline, report=click.echo)
    click.echo(outcome.summary())
    sys.exit(0 if outcome.ok else 1)


@main.command()
def verify() -> None:
    """End-to-end checks: concept → passage → paper traceability, graph traversal, vector search."""
    from polymath_assets import verify as checks
    from polymath_assets.graph.connection import open_graph
    from polymath_assets.kb.db import connect
    from polymath_assets.local.services import up

    config = _config()
    endpoints = up(config)
    with connect(endpoints.postgres_dsn) as conn, open_graph(endpoints.graph_uri, endpoints.graph_auth,
                                                             endpoints.graph_database) as graph:
        results = [checks.check_traceability(conn, config.extractor_version), checks.check_traversal(conn, graph),
                   checks.check_vector_search(conn)]
    for check in results:
        click.echo(f"{'PASS' if check.passed else 'FAIL'}  {check.name}: {check.detail}")
        for row in check.rows[:3]:
            click.echo("      " + " | ".join(f"{k}={str(v)[:60]}" for k, v in row.items()))
    sys.exit(0 if all(c.passed for c in results) else 1)


# --- the concept graph --------------------------------------------------------------------

@main.group("graph")
def graph_group() -> None:
    """The concept graph (Neo4j when NEO4J_URI is set, else the embedded FalkorDB)."""


@graph_group.command("query")
@click.argument("statement")
@click.option("--param", "params", multiple=True, metavar="NAME=JSON",
              help="A query parameter; the value is JSON (a bare word is taken as a string).")
@click.option("--json", "as_json", is_flag=True, help="Print the records as a JSON array.")
def graph_query(statement: str, params: tuple[str, ...], as_json: bool) -> None:
    """Run a read-only Cypher query (MATCH … RETURN …); the server refuses writes."""
    from polymath_assets.graph.connection import GraphStatementError, open_graph
    from polymath_assets.graph.traversal import read_only_query
    from polymath_assets.local.services import endpoints, graph_uri

    config = _config()
    uri = graph_uri(config)
    found = endpoints(config, "", uri)
    values = {}
    for item in params:
        name, sep, raw = item.partition("=")
        if not sep or not name.isidentifier():
            raise click.ClickException(f"--param {item!r}: expected NAME=JSON")
        try:
            values[name] = json.loads(raw)
        except json.JSONDecodeError:
            values[name] = raw
    with open_graph(uri, found.graph_auth, found.graph_database) as graph:
        try:
            rows = read_only_query(graph, statement, values)
        except GraphStatementError as err:
            raise click.ClickException(f"{err} (graph query runs read-only: MATCH … RETURN …)") from None
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, default=str, indent=2))
        return
    if not rows:
        click.echo("(no records)")
        return
    columns = list(rows[0])
    click.echo("\t".join(columns))
    for row in rows:
        click.echo("\t".join(str(row.get(c)) for c in columns))
    click.echo(f"({len(rows)} record{'s' if len(rows) != 1 else ''})")


@graph_group.command("sync")
@click.option("--shard", "shards", type=int, multiple=True,
              help="Only this shard (repeatable; default: every shard with passages).")
@click.option("--full", is_flag=True, help="Project each shard whole again, not only what changed since its last sync.")
def graph_sync(shards: tuple[int, ...], full: bool) -> None:
    """Bring the graph in line with PostgreSQL now — what the graph asset does per shard:
    changed passages, merged or split concepts — and reconcile each shard. Exits 1 when a
    shard does not reconcile."""
    from polymath_assets.graph import open_graph, reconcile, sync_shard
    from polymath_assets.interrupts import checkpoint
    from polymath_assets.kb import ledger
    from polymath_assets.kb.db import connect
    from polymath_assets.local.services import up
    from polymath_assets.shards import shard_key

    config = _config()
    endpoints = up(config)
    failed = []
    with connect(endpoints.postgres_dsn) as conn, open_graph(endpoints.graph_uri, endpoints.graph_auth,
                                                             endpoints.graph_database) as graph:
        for shard in shards or ledger.shards_with_passages(conn, config.shard_count):
            checkpoint()  # SIGINT/SIGTERM: stop between shards; each sync commits whole or not at all
            result = sync_shard(conn, graph, shard=shard, shard_count=config.shard_count,
                                batch_size=config.graph_batch_size, full=full)
            check = reconcile(conn, graph, shard=shard, shard_count=config.shard_count)
            mode = f"full ({result.full_reason})" if result.full else "incremental"
            waiting = f", {result.unresolved} rows not resolved yet" if result.unresolved else ""
            click.echo(f"{shard_key(shard)}: {mode}; {result.claimed_passages} changed passages, "
                       f"{result.refreshed_concepts} concepts refreshed{waiting}; reconciliation "
                       + ("ok" if check.ok else f"FAILED {json.dumps(check.differences, default=str)[:300]}"))
            if not check.ok:
                failed.append(shard)
    if failed:
        raise click.ClickException(f"{len(failed)} shard(s) do not reconcile; `polymath graph sync --full "
                                   f"--shard {failed[0]}` projects one whole again")


@main.command()
@click.argument("query")
@click.option("-k", "k", default=10, show_default=True, help="How many passages.")
@click.option("--year-from", type=int, default=None, help="Only papers from this year on.")
@click.option("--concept-type", default=None, help="Only passages mentioning a concept of this type.")
def search(query: str, k: int, year_from: int | None, concept_type: str | None) -> None:
    """Nearest passages to a text query, with their paper and top concepts."""
    from polymath_assets.embedding.encoder import Encoder
    from polymath_assets.kb.db import connect, prepare
    from polymath_assets.kb.search import nearest_passages
    from polymath_assets.local.services import postgres_dsn

    config = _config()
    dsn = postgres_dsn(config)
    prepare(dsn, config)
    vector = Encoder.from_config(config).encode([query])[0]
    with connect(dsn) as conn:
        rows = nearest_passages(conn, vector, k, year_from=year_from, concept_type=concept_type)
    if not rows:
        raise click.ClickException("no passage has an embedding yet; run `polymath run` or passage_embeddings")
    for rank, row in enumerate(rows, start=1):
        click.echo(f"{rank:>3}. {row['distance']:.3f}  {row['title']} ({row['year']}, doi:{row['doi']})")
        click.echo(f"      {row['preview']}")
        click.echo(f"      concepts: {', '.join(row['concepts']) or '-'}")


# --- schema and merge policy ----------------------------------------------------------

@main.command("migrate")
def migrate_command() -> None:
    """Bring the database schema up to date (run once per deployment; everything else only checks it)."""
    from polymath_assets.kb.db import migrate_database
    from polymath_assets.local.services import postgres_dsn

    config = _config()
    applied = migrate_database(postgres_dsn(config), config)
    click.echo(f"schema    applied {', '.join(applied)}" if applied else "schema    up to date")


@main.group("merge-policy")
def merge_policy_group() -> None:
    """Show or set the merge policy (extractor preference order and confidence floor)."""


@merge_policy_group.command("show")
def merge_policy_show() -> None:
    """Print the merge policy stored in the database."""
    from polymath_assets.kb.db import prepare, session
    from polymath_assets.kb.migrate import merge_policy
    from polymath_assets.local.services import postgres_dsn

    config = _config()
    dsn = postgres_dsn(config)
    prepare(dsn, config)
    with session(dsn) as conn:
        preference, floor = merge_policy(conn)
    click.echo(f"preference  {','.join(preference) or '(none)'}")
    click.echo(f"floor       {floor:g}")


@merge_policy_group.command("set")
@click.option("--preference", help="Extractor versions, best first, comma-separated (e.g. gemini_batch_v1,llm_v2).")
@click.option("--floor", type=float, help="Confidence floor of the merge-policy view (0..1).")
def merge_policy_set(preference: str | None, floor: float | None) -> None:
    """Change the merge policy; unset options keep their stored value."""
    from polymath_assets.kb.db import prepare, session
    from polymath_assets.kb.migrate import merge_policy, set_merge_policy
    from polymath_assets.local.services import postgres_dsn

    if preference is None and floor is None:
        raise click.UsageError("give --preference and/or --floor")
    config = _config()
    dsn = postgres_dsn(config)
    prepare(dsn, config)
    with session(dsn) as conn:
        stored_preference, stored_floor = merge_policy(conn)
        new_preference = (tuple(v.strip() for v in preference.split(",") if v.strip())
                          if preference is not None else stored_preference)
        set_merge_policy(conn, new_preference, stored_floor if floor is None else floor)
        preference_now, floor_now = merge_policy(conn)
    click.echo(f"preference  {','.join(preference_now)}")
    click.echo(f"floor       {floor_now:g}")


# --- canonical concepts -----------------------------------------------------------------

@main.group()
def concepts() -> None:
    """Canonical concepts: inspect, merge, split and undo; resolve surfaces."""


def _concepts_db():
    from polymath_assets.kb.db import prepare
    from polymath_assets.local.services import postgres_dsn

    config = _config()
    dsn = postgres_dsn(config)
    prepare(dsn, config)
    return config, dsn


def _name_encoder(config):
    from polymath_assets.concepts.names import name_encoder
    from polymath_assets.embedding.encoder import EncoderError

    try:
        return name_encoder(config)
    except EncoderError as err:
        raise click.ClickException(str(err)) from None


def _actor() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "operator"


GRAPH_FOLLOWS = "the graph follows at its next sync (`polymath graph sync`, or the graph asset)"


def _concept_operation(work, writes: bool = True):
    """Run one operator decision in one transaction; a refusal is shown as a plain message.
    A decision holds the resolver's lock from before it looks names up: a resolver run in
    progress finishes first (and may create, or with --full replace, the concepts named)."""
    from polymath_assets.kb.canonical import lock_resolver
    from polymath_assets.kb.concept_ops import ConceptError
    from polymath_assets.kb.db import connect

    config, dsn = _concepts_db()
    with connect(dsn) as conn:
        if writes and not lock_resolver(conn, wait=False):
            click.echo("waiting for the resolver run in progress to finish...", err=True)
            lock_resolver(conn)
        try:
            outcome = work(conn, config)
        except ConceptError as err:
            conn.rollback()
            raise click.ClickException(str(err)) from None
        conn.commit()
    return outcome


def _shown(text: str) -> str:
    """A surface as the extractor wrote it, or quoted with escapes when it holds characters
    a terminal would act on or hide (line breaks, escape sequences, bidi controls)."""
    return text if text.isprintable() else repr(text)


@concepts.command("show")
@click.argument("name")
@click.option("--type", "type_", default=None, help="Only concepts of this type.")
def concepts_show(name: str, type_: str | None) -> None:
    """The canonical concept(s) NAME designates, with every alias, its stage, and the merge log."""
    from polymath_assets.kb import concept_ops

    def work(conn, config):
        ids = concept_ops.find_concepts(conn, name, type_)
        if not ids:
            raise concept_ops.ConceptError(f"no canonical concept is named {name!r}; run `polymath concepts run` "
                                           "(or the canonical_concepts asset) to resolve new surfaces")
        return [concept_ops.show(conn, cid) for cid in ids]

    for view in _concept_operation(work, writes=False):
        merged = f"  (merged into #{view.merged_into})" if view.merged_into else ""
        click.echo(f"#{view.concept_id} {_shown(view.preferred_name)} [{_shown(view.concept_type)}]{merged}: "
                   f"{len(view.aliases)} aliases")
        for a in view.aliases:
            score = f" {a['score']:.3f}" if a["score"] is not None else ""
            click.echo(f"    {_shown(a['surface'])} [{_shown(a['type'])}]  {a['stage']}{score}"
                       f"{'  pinned' if a['pinned'] else ''}")
        for entry in view.log:
            undone = f", undone by {entry['undone_by']}" if entry["undone_by"] else ""
            click.echo(f"    log {entry['merge_id']}: {entry['kind']} #{entry['from_concept']} -> #{entry['to_concept']} "
                       f"({entry['surfaces']} surfaces) by {entry['actor']} at {entry['created_at']}{undone}")


@concepts.command("merge")
@click.argument("source")
@click.argument("target")
@click.option("--source-type", default=None, help="Type of SOURCE when its name has several.")
@click.option("--target-type", default=None, help="Type of TARGET when its name has several.")
@click.option("--force", is_flag=True, help="Merge even types that POLYMATH_CONCEPT_TYPE_PAIRS keeps apart.")
@click.option("--note", default=None, help="Why (kept in the merge log).")
def concepts_merge(source: str, target: str, source_type, target_type, force: bool, note) -> None:
    """Merge the concept SOURCE into TARGET (names, or #ID). Pinned: the resolver never reverts it."""
    from polymath_assets.concepts.rules import TypeRules
    from polymath_assets.kb import concept_ops

    def work(conn, config):
        a = concept_ops.resolve_reference(conn, source, source_type)
        b = concept_ops.resolve_reference(conn, target, target_type)
        return a, b, concept_ops.merge(conn, a, b, actor=_actor(), rules=TypeRules.parse(config.concept_type_pairs),
                                       force=force, note=note)

    a, b, merge_id = _concept_operation(work)
    click.echo(f"merged #{a} into #{b} (merge {merge_id}; `polymath concepts undo {merge_id}` reverses it)")
    click.echo(GRAPH_FOLLOWS)


@concepts.command("split")
@click.argument("name")
@click.option("--type", "type_", default=None, help="The surface's type when it is written with several.")
@click.option("--note", default=None, help="Why (kept in the merge log).")
def concepts_split(name: str, type_: str | None, note) -> None:
    """Move the surface NAME out of its cluster into a concept of its own (pinned)."""
    from polymath_assets.kb import concept_ops

    def work(conn, config):
        return concept_ops.split(conn, name, type_, actor=_actor(), version=config.concept_resolver_version, note=note)

    merge_id, new = _concept_operation(work)
    click.echo(f"split {name!r} into its own concept #{new} (merge {merge_id}; `polymath concepts undo {merge_id}` "
               "reverses it)")
    click.echo(GRAPH_FOLLOWS)


@concepts.command("undo")
@click.argument("merge_id", type=int)
def concepts_undo(merge_id: int) -> None:
    """Reverse a merge or split from the merge log (its aliases go back to how they were)."""
    from polymath_assets.kb import concept_ops

    undo_id = _concept_operation(lambda conn, config: concept_ops.undo(conn, merge_id, actor=_actor()))
    click.echo(f"undid {merge_id} (logged as {undo_id})")
    click.echo(GRAPH_FOLLOWS)


@concepts.command("run")
@click.option("--full", is_flag=True, help="Forget every unpinned decision and resolve all surfaces again.")
def concepts_run(full: bool) -> None:
    """Resolve the surfaces of passage_concepts that have no canonical concept yet (what the asset does)."""
    from polymath_assets.concepts.pipeline import resolve_corpus
    from polymath_assets.concepts.resolver import ResolverSettings
    from polymath_assets.kb.db import connect

    config, dsn = _concepts_db()
    encoder = _name_encoder(config)
    with connect(dsn) as conn:
        summary = resolve_corpus(conn, encoder.encode, ResolverSettings.from_config(config), full=full)
        conn.commit()
    if summary.full_reason:
        click.echo(f"full re-resolution: {summary.full_reason}")
    click.echo(f"resolved {summary.surfaces} surfaces, {summary.concepts_created} new concepts, "
               f"by stage {summary.by_stage} ({summary.seconds:.1f}s)")
    click.echo(GRAPH_FOLLOWS)


@concepts.command("resolve")
@click.option("--input", "input_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help='JSONL, one {"name": ..., "type": ...} per line.')
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="JSONL written with concept_id and preferred_name added.")
@click.option("--save", is_flag=True, help="Keep the new concepts and aliases (default: the knowledge base is left as it was).")
def concepts_resolve(input_path: Path, output_path: Path, save: bool) -> None:
    """Resolve a list of names the way the canonical_concepts asset does, against the
    existing concepts. A bad line rejects the whole file (with line numbers)."""
    from polymath_assets.concepts.pipeline import resolve_names
    from polymath_assets.concepts.resolver import ResolverSettings
    from polymath_assets.concepts.surfaces_file import SurfacesRejected, json_line, read_surfaces
    from polymath_assets.kb.db import connect

    try:
        surfaces = read_surfaces(input_path)
    except SurfacesRejected as rejected:
        raise click.ClickException(str(rejected)) from None
    config, dsn = _concepts_db()
    encoder = _name_encoder(config)
    with connect(dsn) as conn:
        found = resolve_names(conn, surfaces, encoder.encode, ResolverSettings.from_config(config))
        conn.commit() if save else conn.rollback()
    with output_path.open("w", encoding="utf-8") as out:
        for surface, (concept_id, preferred) in zip(surfaces, found):
            out.write(json_line({"name": surface.name, "type": surface.type, "concept_id": concept_id,
                                 "preferred_name": preferred}))
    click.echo(f"resolved {len(surfaces)} names into {len({c for c, _ in found})} concepts -> {output_path}"
               + ("" if save else " (nothing saved; --save keeps them)"))


if __name__ == "__main__":
    main()
