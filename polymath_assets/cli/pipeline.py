"""`polymath run`, `verify` and `search`: the whole pipeline and what it produced."""

from __future__ import annotations

import sys

import click

from polymath_assets.cli.common import config, database, interruptible, offline_option


@click.command("run")
@click.option("--shard", "shards", multiple=True, type=int, help="Only these shards (default: every shard with passages).")
@offline_option
@interruptible
def run_command(shards: tuple[int, ...], offline: bool | None) -> None:
    """Materialize the whole asset graph, shard by shard, then the QC report (in this process,
    recorded in the Dagster instance at DAGSTER_HOME so the UI shows the runs)."""
    from polymath_assets.defs.execution import run_pipeline

    outcome = run_pipeline(config(), shards=shards or None, offline=offline, progress=click.echo)
    click.echo(outcome.summary())
    sys.exit(0 if outcome.ok else 1)


@click.command()
def verify() -> None:
    """End-to-end checks: concept → passage → paper traceability, graph traversal, vector search."""
    from polymath_assets import verify as checks
    from polymath_assets.graph.connection import open_graph
    from polymath_assets.kb.db import connect
    from polymath_assets.local.services import up

    cfg = config()
    endpoints = up(cfg)
    with connect(endpoints.postgres_dsn) as conn, open_graph(endpoints.graph_uri, endpoints.graph_auth,
                                                             endpoints.graph_database) as graph:
        results = [checks.check_traceability(conn, cfg.extractor_version), checks.check_traversal(conn, graph),
                   checks.check_vector_search(conn)]
    for check in results:
        click.echo(f"{'PASS' if check.passed else 'FAIL'}  {check.name}: {check.detail}")
        for row in check.rows[:3]:
            click.echo("      " + " | ".join(f"{k}={str(v)[:60]}" for k, v in row.items()))
    sys.exit(0 if all(c.passed for c in results) else 1)


@click.command()
@click.argument("query")
@click.option("-k", "k", default=10, show_default=True, help="How many passages.")
@click.option("--year-from", type=int, default=None, help="Only papers from this year on.")
@click.option("--concept-type", default=None, help="Only passages mentioning a concept of this type.")
def search(query: str, k: int, year_from: int | None, concept_type: str | None) -> None:
    """Nearest passages to a text query, with their paper and top concepts."""
    from polymath_assets.embedding.encoder import Encoder
    from polymath_assets.kb.db import connect
    from polymath_assets.kb.search import nearest_passages

    cfg = config()
    dsn = database(cfg)
    vector = Encoder.from_config(cfg).encode([query])[0]
    with connect(dsn) as conn:
        rows = nearest_passages(conn, vector, k, year_from=year_from, concept_type=concept_type)
    if not rows:
        raise click.ClickException("no passage has an embedding yet; run `polymath run` or passage_embeddings")
    for rank, row in enumerate(rows, start=1):
        click.echo(f"{rank:>3}. {row['distance']:.3f}  {row['title']} ({row['year']}, doi:{row['doi']})")
        click.echo(f"      {row['preview']}")
        click.echo(f"      concepts: {', '.join(row['concepts']) or '-'}")


COMMANDS = [run_command, verify, search]
