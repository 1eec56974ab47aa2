"""Connections to the knowledge-base PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from polymath_assets.config import Config, redact_dsn
from polymath_assets.kb.migrate import migrate


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


def prepare(dsn: str, config: Config) -> list[str]:
    """Bring the schema up to date for this configuration; return migrations applied."""
    with session(dsn) as conn:
        return migrate(
            conn,
            embedding_dim=config.embedding_dim,
            shard_count=config.shard_count,
            merge_preference=config.merge_preference,
            confidence_floor=config.confidence_floor,
        )
