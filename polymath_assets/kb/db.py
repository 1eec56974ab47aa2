"""Connections to the knowledge-base PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from polymath_assets.config import Config, redact_dsn
from polymath_assets.kb.migrate import check_schema, migrate


class DatabaseUnavailable(RuntimeError):
    pass


def connect(dsn: str, **kwargs) -> psycopg.Connection:
    try:
        return psycopg.connect(dsn, connect_timeout=10, **kwargs)
    except psycopg.OperationalError as err:
        raise DatabaseUnavailable(
            f"cannot connect to PostgreSQL at {redact_dsn(dsn)}: {str(err).strip()}. "
            "Start the embedded server with `polymath services up`, or check POSTGRES_DSN."
        ) from None


@contextmanager
def session(dsn: str) -> Iterator[psycopg.Connection]:
    conn = connect(dsn)
    try:
        yield conn
        conn.commit()
    finally:
        conn.close()


def prepare(dsn: str, config: Config) -> None:
    """Check that the schema is migrated for this configuration (no DDL, no locks): what
    every resource, sensor tick and command does before it uses the database. A database
    that is behind raises SchemaError telling the operator to run `polymath migrate`."""
    with session(dsn) as conn:
        # Catalogue reads take no lock a writer holds; the timeout is a bound, not a wait.
        conn.execute("SELECT set_config('lock_timeout', '5s', false)")
        check_schema(conn, embedding_dim=config.embedding_dim, shard_count=config.shard_count)


def migrate_database(dsn: str, config: Config) -> list[str]:
    """Bring the schema up to date for this configuration; return migrations applied.
    Run once per deployment step (`polymath migrate`, `polymath services up`, the init
    service), never per process. Seeds the merge policy on a new database only."""
    with session(dsn) as conn:
        # A migration must not hang behind a long write either: it fails with a message.
        conn.execute("SELECT set_config('lock_timeout', '60s', false)")
        return migrate(
            conn,
            embedding_dim=config.embedding_dim,
            shard_count=config.shard_count,
            merge_preference=config.merge_preference,
            confidence_floor=config.confidence_floor,
        )
