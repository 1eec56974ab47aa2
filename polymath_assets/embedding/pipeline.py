"""Embed one shard: passages lacking a vector from the configured model → length-sorted
batches → encoder → binary COPY + one UPDATE per chunk → HNSW index.

Each chunk is committed on its own, so an interruption loses at most one chunk and a
rerun continues where the last one stopped (it asks the database what is still missing).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import psycopg

from polymath_assets.embedding.batching import length_sorted_batches
from polymath_assets.kb import embeddings as kb_embeddings
from polymath_assets.kb.migrate import embedding_column_dimension


class TextEncoder(Protocol):
    """What the pipeline needs of an encoder (``embedding.encoder.Encoder`` in production)."""
    name: str
    dimension: int
    batch_size: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


class EmbeddingDimensionMismatch(ValueError):
    """The model's vectors do not fit ``passages.embedding``; raised before anything is written."""


@dataclass(frozen=True)
class EmbedResult:
    embedded: int               # passages written in this run
    batches: int                # encoder batches of batch_size (length-sorted)
    seconds: float
    skipped_already_done: int   # passages of the scope that already had a vector from this model
    remaining: int = 0          # passages of the scope still missing one after the run (0 when all went well)
    index: str = ""             # HNSW index: created / rebuilt / present / deferred / skipped


def check_dimension(conn: psycopg.Connection, encoder: TextEncoder) -> None:
    column_dim = embedding_column_dimension(conn)
    if column_dim is not None and column_dim != encoder.dimension:
        raise EmbeddingDimensionMismatch(
            f"embedding model {encoder.name!r} produces {encoder.dimension}-d vectors but passages.embedding "
            f"is vector({column_dim}); set POLYMATH_EMBEDDING_MODEL to a {column_dim}-d model "
            f"(BAAI/bge-m3 is 1024-d), or use a database migrated with POLYMATH_EMBEDDING_DIM={encoder.dimension}"
        )


def embed_shard(conn: psycopg.Connection, encoder: TextEncoder, *, shard: int | None, shard_count: int,
                chunk: int = 2048, progress: Callable[[int], None] | None = None,
                create_index: bool | None = None, rebuild_index: bool = False,
                index_memory: str | None = None, index_build: kb_embeddings.HnswBuild | None = None) -> EmbedResult:
    """Write vectors for the shard's passages (all passages for ``shard=None``) that lack
    one from ``encoder.name``. Commits after every chunk of ``chunk`` passages.

    The HNSW index is created at the end when it is missing and no passage of any shard
    still lacks a vector (``create_index=None``): building it once after the backfill is
    much cheaper than letting every later shard's UPDATE maintain it. ``True`` creates it
    now regardless, ``False`` never; ``rebuild_index`` reindexes an existing one;
    ``index_memory`` is the maintenance_work_mem for that build, sized to the index within
    ``index_build``'s cap when not given (see kb.embeddings)."""
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    check_dimension(conn, encoder)
    started = time.perf_counter()
    done_before, _ = kb_embeddings.embedding_coverage(conn, shard, shard_count, encoder.name)
    conn.commit()

    embedded = batches = 0
    after = None
    while rows := kb_embeddings.missing_embeddings(conn, shard=shard, shard_count=shard_count,
                                                   model=encoder.name, limit=chunk, after=after):
        after = rows[-1][0]
        ordered = [item for batch in length_sorted_batches(rows, encoder.batch_size) for item in batch]
        # One encode call per chunk, in length-sorted order: the encoder batches by
        # batch_size, so its batches are ours, and its per-call probe runs once per chunk.
        vectors = encoder.encode([text for _, text in ordered])
        embedded += kb_embeddings.write_embeddings(
            conn, zip((passage_id for passage_id, _ in ordered), vectors), encoder.name)
        conn.commit()
        batches += -(-len(rows) // encoder.batch_size)
        if progress:
            progress(len(rows))

    remaining = kb_embeddings.count_missing(conn, shard, shard_count, encoder.name)
    index = _settle_index(conn, encoder.name, shard_count, create_index, rebuild_index, index_memory, index_build)
    conn.commit()
    return EmbedResult(embedded=embedded, batches=batches, seconds=time.perf_counter() - started,
                       skipped_already_done=done_before, remaining=remaining, index=index)


def _settle_index(conn: psycopg.Connection, model: str, shard_count: int, create: bool | None,
                  rebuild: bool, memory: str | None, build: kb_embeddings.HnswBuild | None = None) -> str:
    if create is False:
        return "skipped"
    if create is None and not kb_embeddings.hnsw_index_exists(conn):
        missing = kb_embeddings.count_missing(conn, None, shard_count, model)
        if missing:
            return f"deferred ({missing} passages still lack a vector)"
    return kb_embeddings.ensure_hnsw_index(conn, rebuild=rebuild, maintenance_work_mem=memory, build=build)
