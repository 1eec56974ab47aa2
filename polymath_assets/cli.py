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
    try:
        return Config.from_env()
    except ConfigError as err:
        raise click.ClickException(str(err)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Polymath concept pipeline: typed concepts with evidence, embeddings and a concept graph."""


@main.command("config")
def config_command() -> None:
    """Print the configuration in effect (secrets shown only as set/unset)."""
    for key, value in _config().public_view().items():
        click.echo(f"{key:20} {value}")


@main.command("config-table", hidden=True)
def config_table() -> None:
    """The README's configuration table, generated from polymath_assets.config."""
    click.echo(settings_table_markdown())


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
    """Start, stop and inspect PostgreSQL and the graph server."""


@services.command("up")
def services_up() -> None:
    """Start the embedded servers that are needed (idempotent) and migrate the schema."""
    from polymath_assets.kb.db import prepare
    from polymath_assets.local import services as svc

    config = _config()
    endpoints = _guard(lambda: svc.up(config))
    applied = _guard(lambda: prepare(endpoints.postgres_dsn, config))
    click.echo(f"postgres  {endpoints.postgres_dsn}")
    click.echo(f"graph     {endpoints.graph_uri}")
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
    dsn = _guard(lambda: postgres_dsn(config))
    _guard(lambda: prepare(dsn, config))
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


def _guard(action):
    """Run an action; turn the operator-facing errors into a clean message and exit 1."""
    from polymath_assets.kb.db import DatabaseUnavailable
    from polymath_assets.kb.migrate import SchemaError

    try:
        return action()
    except (DatabaseUnavailable, SchemaError, ConfigError, RuntimeError) as err:
        raise click.ClickException(str(err)) from None


if __name__ == "__main__":
    main()
