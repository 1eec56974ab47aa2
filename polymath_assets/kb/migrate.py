"""Ordered, additive, recorded schema migrations (plain ``.sql`` files in ``migrations/``).

Migrations run once, from an explicit step: ``polymath migrate``, ``polymath services
up``, or the deployment's init service. Each file runs once and is recorded in
``schema_migrations`` with a checksum; an edited file that already ran is refused rather
than silently skipped. Concurrent runners serialise on an advisory lock. After the files,
the shard count is brought in line with configuration (the stored concept shard column
and the passages' shard expression index), and on a new database the merge policy is
seeded from configuration.

Everything else (Dagster resources, the sensor's ticks, CLI commands) only *checks* the
schema with :func:`check_schema`: a few catalogue reads, no DDL and no locks, so a
process starting never waits behind a write on ``passages``. The merge policy is changed
only by :func:`set_merge_policy` (``polymath merge-policy set``), never by whichever
process connected last.
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

    @property
    def label(self) -> str:
        return f"{self.version}_{self.name}"

    def render(self, embedding_dim: int, shard_count: int) -> str:
        return (self.text.replace("{{EMBEDDING_DIM}}", str(int(embedding_dim)))
                .replace("{{SHARD_COUNT}}", str(int(shard_count))))


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
    merge_preference: tuple[str, ...] | None = None,
    confidence_floor: float | None = None,
) -> list[str]:
    """Apply what has not run yet; return the names of the migrations applied now.

    ``merge_preference``/``confidence_floor`` seed the merge policy when the database has
    none yet; an existing policy is left as it is (see :func:`set_merge_policy`)."""
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
                        f"migration {migration.label}.sql changed after it was applied; "
                        "add a new numbered migration instead of editing an applied one"
                    )
                continue
            conn.execute(migration.render(embedding_dim, shard_count))
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
            applied_now.append(migration.label)
        check_embedding_dimension(conn, embedding_dim)
        reshard(conn, shard_count)
        if merge_preference is not None and confidence_floor is not None and not _has_merge_policy(conn):
            set_merge_policy(conn, merge_preference, confidence_floor)
    return applied_now


def check_schema(conn: psycopg.Connection, *, embedding_dim: int, shard_count: int) -> None:
    """Refuse a database that is not migrated for this configuration, with what to do.
    Reads only (schema_migrations, kb_settings, the catalogue): no DDL, no locks beyond
    those of a plain SELECT, so it never waits for writers."""
    if conn.execute("SELECT to_regclass('schema_migrations') IS NULL").fetchone()[0]:
        raise SchemaError("the database has no polymath schema yet; run `polymath migrate` "
                          "(or `polymath services up`) first")
    done = {v for (v,) in conn.execute("SELECT version FROM schema_migrations")}
    missing = [m.label for m in available_migrations() if m.version not in done]
    if missing:
        raise SchemaError(f"the database schema is behind this code (missing {', '.join(missing)}); "
                          "run `polymath migrate`")
    check_embedding_dimension(conn, embedding_dim)
    recorded = recorded_shard_count(conn)
    if recorded != shard_count:
        raise SchemaError(f"the database is sharded for POLYMATH_SHARD_COUNT={recorded} but the configuration says "
                          f"{shard_count}; run `polymath migrate` to re-shard, or set POLYMATH_SHARD_COUNT={recorded}")


def recorded_shard_count(conn: psycopg.Connection) -> int | None:
    row = conn.execute("SELECT shard_count FROM kb_settings").fetchone()
    return row[0] if row else None


def reshard(conn: psycopg.Connection, shard_count: int) -> None:
    """Make the stored concept shard column and the passages' shard index match
    ``shard_count`` (a no-op when they already do)."""
    ensure_shard_index(conn, shard_count)
    if recorded_shard_count(conn) == shard_count:
        return
    # Rewrites passage_concepts once (PostgreSQL 17+): a deliberate, operator-run step.
    conn.execute(sql.SQL("ALTER TABLE passage_concepts ALTER COLUMN shard SET EXPRESSION AS ({})").format(
        sql.SQL(concept_shard_expression(shard_count))))
    conn.execute("UPDATE kb_settings SET shard_count = %s", (int(shard_count),))


def concept_shard_expression(shard_count: int) -> str:
    """The SQL of a row's shard (shards.shard_of), as stored in passage_concepts.shard."""
    return f"(('x' || substr(md5(passage_id::text), 1, 7))::bit(28)::int) % {int(shard_count)}"


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
    # The expression must match the one shard queries use literally (kb.ledger, kb.graph_source).
    # Looked up first: CREATE INDEX IF NOT EXISTS would still queue behind any open write
    # on passages, and an up-to-date `polymath migrate` should return at once.
    if conn.execute("SELECT to_regclass(%s) IS NOT NULL", (shard_index_name(shard_count),)).fetchone()[0]:
        return
    conn.execute(
        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON passages ((shard_hash % {}))").format(
            sql.Identifier(shard_index_name(shard_count)), sql.Literal(int(shard_count))
        )
    )


def _has_merge_policy(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT EXISTS (SELECT 1 FROM extractor_preference)").fetchone()[0]


def merge_policy(conn: psycopg.Connection) -> tuple[tuple[str, ...], float]:
    """(extractor versions in order of preference, confidence floor) as stored."""
    preference = tuple(v for (v,) in conn.execute(
        "SELECT extractor_version FROM extractor_preference ORDER BY rank"))
    floor = conn.execute("SELECT confidence_floor FROM merge_settings").fetchone()[0]
    return preference, float(floor)


def set_merge_policy(conn: psycopg.Connection, preference: tuple[str, ...], floor: float) -> None:
    """Replace the merge policy (the passage_concepts_merged view reads it). Does not commit."""
    if not preference or any(not v.strip() for v in preference):
        raise SchemaError("the merge preference needs at least one extractor version, e.g. gemini_batch_v1,llm_v2")
    if not 0.0 <= floor <= 1.0:
        raise SchemaError(f"the confidence floor must be between 0 and 1, not {floor}")
    conn.execute("DELETE FROM extractor_preference")
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO extractor_preference (extractor_version, rank) VALUES (%s, %s)",
            [(version, rank) for rank, version in enumerate(preference, start=1)],
        )
    conn.execute("UPDATE merge_settings SET confidence_floor = %s", (floor,))
