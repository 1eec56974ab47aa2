"""What the command groups share: the configuration, the database they are pointed at,
common options, and stopping at a safe point."""

from __future__ import annotations

import functools
import sys

import click

from polymath_assets.config import Config


def config() -> Config:
    return Config.from_env()


def database(cfg: Config) -> str:
    """The DSN of the knowledge base (the embedded server started if needed), with its
    schema checked (never migrated: that is `polymath migrate`)."""
    from polymath_assets.kb.db import prepare
    from polymath_assets.local.services import postgres_dsn

    dsn = postgres_dsn(cfg)
    prepare(dsn, cfg)
    return dsn


offline_option = click.option("--offline", is_flag=True, default=None,
                              help="Use the offline Gemini emulator (also POLYMATH_OFFLINE=1).")
poll_option = click.option("--poll-interval", default=5.0, show_default=True, help="Seconds between job polls.")
timeout_option = click.option("--timeout", default=None, type=float,
                              help="Stop waiting after this many seconds (jobs stay in flight; run again).")
shards_option = click.option("--shard", "shards", multiple=True, type=int,
                             help="Only this shard (repeatable; default: every shard with passages).")


def interruptible(command):
    """SIGINT/SIGTERM stop the command at its next safe point (exit 130/143), not mid-step."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from polymath_assets.interrupts import handle_signals

        with handle_signals():
            return command(*args, **kwargs)

    return wrapper


def exit_on_failed_gates(report, label: str) -> None:
    if not report.passed:
        click.echo(f"{label}: a quality gate failed (see {report.path}); exit status 1", err=True)
        sys.exit(1)
