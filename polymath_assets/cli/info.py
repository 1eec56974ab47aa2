"""`polymath config`, `config-table` and `assets`: what is configured and defined."""

from __future__ import annotations

from pathlib import Path

import click

from polymath_assets.cli.common import config
from polymath_assets.config import settings_table_markdown


@click.command("config")
def config_command() -> None:
    """Print the configuration in effect (secrets shown only as set/unset)."""
    for key, value in config().public_view().items():
        click.echo(f"{key:20} {value}")


@click.command("config-table", hidden=True)
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


@click.command("assets")
def assets_command() -> None:
    """List the Dagster assets: partitions, upstream assets and pools."""
    from polymath_assets.definitions import build_definitions

    graph = build_definitions(config()).resolve_asset_graph()
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        parts = node.partitions_def
        partitions = f"{len(parts.get_partition_keys())} shard partitions" if parts else "unpartitioned"
        upstream = ", ".join(sorted(k.to_user_string() for k in node.parent_keys)) or "-"
        pools = f"  pool {','.join(sorted(node.pools))}" if node.pools else ""
        click.echo(f"{key.to_user_string():22} {partitions:22} upstream: {upstream}{pools}")


COMMANDS = [config_command, config_table, assets_command]
