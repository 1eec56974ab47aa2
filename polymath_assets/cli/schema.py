"""`polymath migrate` and `merge-policy`: the schema and the stored merge policy."""

from __future__ import annotations

import click

from polymath_assets.cli.common import config, database


@click.command("migrate")
def migrate_command() -> None:
    """Bring the database schema up to date (run once per deployment; everything else only checks it)."""
    from polymath_assets.kb.db import migrate_database
    from polymath_assets.local.services import postgres_dsn

    cfg = config()
    applied = migrate_database(postgres_dsn(cfg), cfg)
    click.echo(f"schema    applied {', '.join(applied)}" if applied else "schema    up to date")


@click.group("merge-policy")
def merge_policy_group() -> None:
    """Show or set the merge policy (extractor preference order and confidence floor)."""


@merge_policy_group.command("show")
def merge_policy_show() -> None:
    """Print the merge policy stored in the database."""
    from polymath_assets.kb.db import session
    from polymath_assets.kb.migrate import merge_policy

    with session(database(config())) as conn:
        preference, floor = merge_policy(conn)
    click.echo(f"preference  {','.join(preference) or '(none)'}")
    click.echo(f"floor       {floor:g}")


@merge_policy_group.command("set")
@click.option("--preference", help="Extractor versions, best first, comma-separated (e.g. gemini_batch_v1,llm_v2).")
@click.option("--floor", type=float, help="Confidence floor of the merge-policy view (0..1).")
def merge_policy_set(preference: str | None, floor: float | None) -> None:
    """Change the merge policy; unset options keep their stored value."""
    from polymath_assets.kb.db import session
    from polymath_assets.kb.migrate import merge_policy, set_merge_policy

    if preference is None and floor is None:
        raise click.UsageError("give --preference and/or --floor")
    with session(database(config())) as conn:
        stored_preference, stored_floor = merge_policy(conn)
        new_preference = (tuple(v.strip() for v in preference.split(",") if v.strip())
                          if preference is not None else stored_preference)
        set_merge_policy(conn, new_preference, stored_floor if floor is None else floor)
        preference_now, floor_now = merge_policy(conn)
    click.echo(f"preference  {','.join(preference_now)}")
    click.echo(f"floor       {floor_now:g}")


COMMANDS = [migrate_command, merge_policy_group]
