"""Ordered, additive, recorded schema migrations (plain ``.sql`` files in ``migrations/``).

Each file runs once, in its own transaction, and is recorded in ``schema_migrations``
with a checksum; an edited file that already ran is refused rather than silently
skipped. Concurrent runners (several Dagster steps starting at once) serialise on an
advisory lock. After the files, the settings that live in the database are brought in
line with configuration: the merge-policy preference order and floor, and the
expression index for the configured shard count.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql

MIGRATIONS_LOCK_ID = 0x706F6C796D617468  # "polymath": one advisory lock for all runners


class SchemaError(RuntimeError):
    """The database cannot be used as configured; the message says what to do."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def render(self, embedding_dim: int) -> str:
        return self.text.replace("{{EMBEDDING_DIM}}", str(int(embedding_dim)))


def available_migrations() -> list[Migration]:
    folder = resources.files("polymath_assets.kb") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version, _, rest = entry.name.partition("_")
            found.append(Migration(version, rest.removesuffix(".sql"), entry.read_text()))
    return sorted(found, key=lambda m: m.version)


def migrate(
    conn: psycopg.Connection,
    *,
    embedding_dim: int,
    shard_count: int,
    merge_preference: tuple[str, ...],
    confidence_floor: float,
) -> list[str]:
    """Apply what has not run yet; return the names of the migrations applied now."""
    applied_now = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATIONS_LOCK_ID,))
        conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())
        for migration in available_migrations():
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise SchemaError(
                        f"migration {migration.version}_{migration.name}.sql changed after it was applied; "
                        "add a new numbered migration instead of editing an applied one"
                    )
                continue
            conn.execute(migration.render(embedding_dim))
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
            applied_now.append(f"{migration.version}_{migration.name}")
        check_embedding_dimension(conn, embedding_dim)
        ensure_shard_index(conn, shard_count)
        write_merge_policy(conn, merge_preference, confidence_floor)
    return applied_now


def embedding_column_dimension(conn: psycopg.Connection) -> int | None:
    row = conn.execute(
        """SELECT atttypmod FROM pg_attribute
           WHERE attrelid = 'passages'::regclass AND attname = 'embedding' AND NOT attisdropped"""
    ).fetchone()
    return row[0] if row and row[0] > 0 else None


def check_embedding_dimension(conn: psycopg.Connection, embedding_dim: int) -> None:
    column_dim = embedding_column_dimension(conn)
    if column_dim is not None and column_dim != embedding_dim:
        raise SchemaError(
            f"passages.embedding is vector({column_dim}) but POLYMATH_EMBEDDING_DIM={embedding_dim}; "
            f"set POLYMATH_EMBEDDING_DIM={column_dim} (and a model of that dimension) or use another database"
        )


def shard_index_name(shard_count: int) -> str:
    return f"passages_shard_{int(shard_count)}_idx"


def ensure_shard_index(conn: psycopg.Connection, shard_count: int) -> None:
    # The expression must match the one shard queries use literally (see kb.queries).
    conn.execute(
        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON passages ((shard_hash % {}))").format(
            sql.Identifier(shard_index_name(shard_count)), sql.Literal(int(shard_count))
        )
    )


def write_merge_policy(conn: psycopg.Connection, preference: tuple[str, ...], floor: float) -> None:
    conn.execute("DELETE FROM extractor_preference")
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO extractor_preference (extractor_version, rank) VALUES (%s, %s)",
            [(version, rank) for rank, version in enumerate(preference, start=1)],
        )
    conn.execute("UPDATE merge_settings SET confidence_floor = %s", (floor,))
