"""Passage embeddings in pgvector: what is missing, bulk write-back, the HNSW index.

A passage needs an embedding when it has none or when the one it has came from another
model (``embedding_model`` differs from the configured model string). Vectors are written
by binary COPY into a temporary table and one ``UPDATE … FROM``; never one UPDATE per row.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql

from polymath_assets.kb.ledger import _shard_filter

HNSW_INDEX = "passages_embedding_hnsw"

_NEEDS_EMBEDDING = "(p.embedding IS NULL OR p.embedding_model IS DISTINCT FROM %(model)s)"


def _scope(shard: int | None, shard_count: int) -> sql.Composable:
    """The shard predicate (literal modulus, so the expression index is used), or all passages."""
    return sql.SQL("TRUE") if shard is None else _shard_filter(shard_count)


def missing_embeddings_query(shard: int | None, shard_count: int, after: str | None) -> sql.Composable:
    """The incremental scan behind :func:`missing_embeddings` (benchmarks EXPLAIN it)."""
    after_sql = sql.SQL("AND p.passage_id > %(after)s::uuid") if after is not None else sql.SQL("")
    return sql.SQL("""
        SELECT p.passage_id::text, p.passage_text FROM passages p
        WHERE {scope} AND {needs} {after}
        ORDER BY p.passage_id
        LIMIT %(limit)s
    """).format(scope=_scope(shard, shard_count), needs=sql.SQL(_NEEDS_EMBEDDING), after=after_sql)


def missing_embeddings(conn: psycopg.Connection, *, shard: int | None, shard_count: int, model: str,
                       limit: int, after: str | None = None) -> list[tuple[str, str]]:
    """Up to ``limit`` (passage_id, passage_text) of the shard (all passages for
    ``shard=None``) that lack an embedding from ``model``, in passage_id order.

    ``after`` continues past the last id of the previous chunk (keyset paging), so a run
    reads each passage once however many chunks it takes, and a passage that could not be
    written is not fetched again in the same run."""
    return conn.execute(missing_embeddings_query(shard, shard_count, after),
                        dict(shard=shard, model=model, after=after, limit=int(limit))).fetchall()


def count_missing(conn: psycopg.Connection, shard: int | None, shard_count: int, model: str) -> int:
    """How many passages of the shard (all for ``shard=None``) lack an embedding from ``model``."""
    query = sql.SQL("SELECT count(*) FROM passages p WHERE {scope} AND {needs}").format(
        scope=_scope(shard, shard_count), needs=sql.SQL(_NEEDS_EMBEDDING))
    return conn.execute(query, dict(shard=shard, model=model)).fetchone()[0]


def embedding_coverage(conn: psycopg.Connection, shard: int | None, shard_count: int,
                       model: str) -> tuple[int, int]:
    """(passages with an embedding from ``model``, all passages) of the shard."""
    query = sql.SQL("""
        SELECT count(*) FILTER (WHERE p.embedding IS NOT NULL AND p.embedding_model = %(model)s), count(*)
        FROM passages p WHERE {scope}""").format(scope=_scope(shard, shard_count))
    with_embedding, total = conn.execute(query, dict(shard=shard, model=model)).fetchone()
    return with_embedding, total


def _ensure_vector_adapter(conn: psycopg.Connection) -> None:
    # register_vector costs four catalogue queries; do it once per connection.
    if conn.adapters.types.get("vector") is None:
        register_vector(conn)


def write_embeddings(conn: psycopg.Connection, rows: Iterable[tuple[str, np.ndarray]], model: str) -> int:
    """Store ``(passage_id, vector)`` rows and record ``model`` on them; return passages
    updated. Ids that are not in ``passages`` are ignored. Does not commit.

    A vector of the wrong dimension fails the whole call (PostgreSQL checks the column's
    ``vector(N)`` on UPDATE), so nothing is half-written."""
    _ensure_vector_adapter(conn)
    # The staging rows live until commit; on an autocommit connection the block below
    # is that transaction (otherwise it is a cheap savepoint).
    with conn.transaction():
        return _copy_and_update(conn, rows, model)


def _copy_and_update(conn: psycopg.Connection, rows: Iterable[tuple[str, np.ndarray]], model: str) -> int:
    conn.execute("""CREATE TEMP TABLE IF NOT EXISTS stage_embeddings
                    (passage_id uuid, embedding vector) ON COMMIT DELETE ROWS""")
    conn.execute("TRUNCATE stage_embeddings")
    # Binary COPY sends 4 bytes a dimension instead of ~10 characters, and PostgreSQL
    # skips parsing float text: the cheapest way to move 1024-d vectors.
    with conn.cursor() as cur, cur.copy("COPY stage_embeddings (passage_id, embedding) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(["uuid", "vector"])
        for passage_id, vector in rows:
            copy.write_row((passage_id if isinstance(passage_id, uuid.UUID) else uuid.UUID(passage_id),
                            np.asarray(vector, dtype=np.float32)))
    return conn.execute(
        """UPDATE passages p SET embedding = t.embedding, embedding_model = %s
           FROM stage_embeddings t WHERE p.passage_id = t.passage_id""", (model,)).rowcount


def hnsw_index_exists(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (HNSW_INDEX,)).fetchone()[0]


@dataclass(frozen=True)
class HnswBuild:
    """How the HNSW index is built: the most ``maintenance_work_mem`` it may take
    (POLYMATH_HNSW_MEMORY_CAP_MB) and the parallel workers (POLYMATH_HNSW_WORKERS)."""

    memory_cap_mb: int = 4096
    workers: int = 2
    # The in-memory graph holds each vector plus its neighbour lists and element header:
    # about twice the raw float32 vector for 384-d, a bit less for 1024-d.
    overhead: float = 2.0

    @classmethod
    def from_config(cls, config) -> "HnswBuild":
        return cls(config.hnsw_memory_cap_mb, config.hnsw_workers)


def hnsw_build_memory_mb(rows: int, dim: int, build: HnswBuild) -> int:
    """maintenance_work_mem (MB) for an in-memory build over ``rows`` vectors of ``dim``:
    rows × dim × 4 bytes × overhead, at least the server default (64 MB), at most the cap.
    A build whose graph does not fit spills to disk and slows down several-fold, which is
    what made the 100k build 15× the 25k one under the 64 MB default."""
    needed = math.ceil(rows * dim * 4 * build.overhead / 2**20)
    return max(64, min(build.memory_cap_mb, needed))


def _embedded_rows_and_dim(conn: psycopg.Connection) -> tuple[int, int]:
    rows = conn.execute("SELECT count(*) FROM passages WHERE embedding IS NOT NULL").fetchone()[0]
    dim = conn.execute(
        """SELECT atttypmod FROM pg_attribute
           WHERE attrelid = 'passages'::regclass AND attname = 'embedding' AND NOT attisdropped""").fetchone()[0]
    return rows, max(int(dim), 1)


def ensure_hnsw_index(conn: psycopg.Connection, rebuild: bool = False,
                      maintenance_work_mem: str | None = None, build: HnswBuild | None = None) -> str:
    """Create the cosine HNSW index on ``passages.embedding`` if it is missing, or rebuild
    it; return "created", "rebuilt" or "present". Does not commit.

    Building it once over filled vectors is far cheaper than maintaining it through a
    bulk backfill (each UPDATE would insert into the graph), so the pipeline calls this
    after the vectors are written. The build's ``maintenance_work_mem`` is sized to the
    index (see :func:`hnsw_build_memory_mb`) unless given (e.g. "2GB"), and
    ``max_parallel_maintenance_workers`` is set; both for this transaction only."""
    exists = hnsw_index_exists(conn)
    if exists and not rebuild:
        return "present"
    build = build or HnswBuild()
    if not maintenance_work_mem:
        maintenance_work_mem = f"{hnsw_build_memory_mb(*_embedded_rows_and_dim(conn), build)}MB"
    conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", (maintenance_work_mem,))
    conn.execute("SELECT set_config('max_parallel_maintenance_workers', %s, true)", (str(int(build.workers)),))
    if not exists:
        conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON passages USING hnsw (embedding vector_cosine_ops)")
                     .format(sql.Identifier(HNSW_INDEX)))
        return "created"
    conn.execute(sql.SQL("REINDEX INDEX {}").format(sql.Identifier(HNSW_INDEX)))
    return "rebuilt"
