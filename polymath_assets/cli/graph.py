"""`polymath graph query / sync`: the concept graph."""

from __future__ import annotations

import json

import click

from polymath_assets.cli.common import config, shards_option


@click.group("graph")
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

    cfg = config()
    uri = graph_uri(cfg)
    found = endpoints(cfg, "", uri)
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
@shards_option
@click.option("--full", is_flag=True, help="Project each shard whole again, not only what changed since its last sync.")
def graph_sync(shards: tuple[int, ...], full: bool) -> None:
    """Bring the graph in line with PostgreSQL now — what the graph asset does per shard:
    changed passages, merged or split concepts — and reconcile each shard. Exits 1 when a
    shard does not reconcile."""
    from polymath_assets.graph import open_graph
    from polymath_assets.kb import ledger
    from polymath_assets.kb.db import connect
    from polymath_assets.local.services import up
    from polymath_assets.operations.graph import sync_graph

    cfg = config()
    endpoints = up(cfg)
    with connect(endpoints.postgres_dsn) as conn, open_graph(endpoints.graph_uri, endpoints.graph_auth,
                                                             endpoints.graph_database) as graph:
        targets = list(shards) or ledger.shards_with_passages(conn, cfg.shard_count)
        failed = [done.shard for done in sync_graph(conn, graph, cfg, targets, full=full, progress=click.echo)
                  if not done.check.ok]
    if failed:
        raise click.ClickException(f"{len(failed)} shard(s) do not reconcile; `polymath graph sync --full "
                                   f"--shard {failed[0]}` projects one whole again")


COMMANDS = [graph_group]
