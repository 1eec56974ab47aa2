"""What the concept graph projects, read from PostgreSQL (SQL only; no Cypher here).

The scope of a sync is the set of merge-policy rows (view ``passage_concepts_merged``)
of one shard (or of all shards) whose concept type is in the graph's allow-list. An
incremental scope keeps only the passages that got a ``passage_concepts`` row after the
shard's watermark; those passages are re-projected whole (all their merged rows), so
their mentions in the graph can be replaced exactly.

``open_scope`` computes the scope once into a temporary table (one pass over the view,
one consistent snapshot for the four streams); the ``stream_*`` functions then read it
through server-side cursors in bounded batches. All of it lives in the caller's open
transaction: the temporary table is dropped at commit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from polymath_assets.corpus.lexicon import CONCEPT_TYPES

SCOPE_TABLE = "graph_sync_scope"
TEXT_PREVIEW_CHARS = 200


def job_name(shard: int | None) -> str:
    """The kb_migrations row holding a shard's graph watermark."""
    return "graph_sync:all" if shard is None else f"graph_sync:shard-{shard:03d}"


def _shard_filter(shard: int | None, shard_count: int) -> sql.Composable:
    # The modulus is a literal so the planner can use the (shard_hash % N) expression index.
    # (%% because these statements always run with parameters.)
    if shard is None:
        return sql.SQL("true")
    # A restriction on the view's own passage_id (its PARTITION BY column) is pushed into
    # the window: only the shard's concept rows are ranked. Filtering through the join to
    # passages instead would rank the whole table for every shard.
    return sql.SQL("m.passage_id = ANY(ARRAY(SELECT passage_id FROM passages WHERE shard_hash %% {} = {}))").format(
        sql.Literal(int(shard_count)), sql.Literal(int(shard)))


def _scope_select(shard: int | None, shard_count: int, watermark: datetime | None,
                  *, known_types: bool = True) -> sql.Composable:
    incremental = sql.SQL("true") if watermark is None else sql.SQL(
        "m.passage_id IN (SELECT pc.passage_id FROM passage_concepts pc WHERE pc.created_at > %(watermark)s)")
    type_filter = sql.SQL("m.concept_type = ANY(%(types)s)" if known_types else "m.concept_type <> ALL(%(types)s)")
    return sql.SQL("""
        SELECT m.passage_id, p.doc_id, p.shard_hash %% {n} AS shard, m.concept_type, m.concept_name,
               m.confidence, m.extractor_version, m.created_at
        FROM passage_concepts_merged m
        JOIN passages p ON p.passage_id = m.passage_id
        WHERE {shard_filter} AND {type_filter} AND {incremental}
    """).format(n=sql.Literal(int(shard_count)), shard_filter=_shard_filter(shard, shard_count),
                type_filter=type_filter, incremental=incremental)


@dataclass(frozen=True)
class Scope:
    """A computed scope: its size, and how many merged rows were left out because their
    concept type is not in the allow-list (reported, never turned into a label)."""

    mentions: int
    passages: int
    skipped_unknown_type: int


def open_scope(conn: psycopg.Connection, *, shard: int | None, shard_count: int,
               watermark: datetime | None, concept_types: Sequence[str] = CONCEPT_TYPES) -> Scope:
    """Materialize the scope (full when ``watermark`` is None) for the stream_* readers."""
    params = {"types": list(concept_types), "watermark": watermark}
    table = sql.Identifier(SCOPE_TABLE)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
    conn.execute(sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS {}").format(
        table, _scope_select(shard, shard_count, watermark)), params)
    conn.execute(sql.SQL("CREATE INDEX ON {} (passage_id)").format(table))
    conn.execute(sql.SQL("ANALYZE {}").format(table))
    mentions, passages = conn.execute(
        sql.SQL("SELECT count(*), count(DISTINCT passage_id) FROM {}").format(table)).fetchone()
    skipped = conn.execute(sql.SQL("SELECT count(*) FROM ({}) s").format(
        _scope_select(shard, shard_count, watermark, known_types=False)), params).fetchone()[0]
    return Scope(mentions=mentions, passages=passages, skipped_unknown_type=skipped)


def _stream(conn: psycopg.Connection, query: sql.Composable, batch_size: int) -> Iterator[list[dict]]:
    # A named (server-side) cursor: the client holds one batch at a time.
    with conn.cursor(name=f"graph_{SCOPE_TABLE}", row_factory=dict_row) as cursor:
        cursor.itersize = batch_size
        cursor.execute(query)
        while rows := cursor.fetchmany(batch_size):
            yield rows


def stream_papers(conn: psycopg.Connection, batch_size: int) -> Iterator[list[dict]]:
    """Papers of the passages in scope: doc_id, title, year, doi."""
    return _stream(conn, sql.SQL("""
        SELECT d.doc_id::text AS doc_id, d.title, d.year, d.doi
        FROM documents d WHERE d.doc_id IN (SELECT doc_id FROM {})
        ORDER BY d.doc_id""").format(sql.Identifier(SCOPE_TABLE)), batch_size)


def stream_passages(conn: psycopg.Connection, batch_size: int) -> Iterator[list[dict]]:
    """Passages in scope: passage_id, doc_id, section, text_preview (<= 200 chars), shard."""
    return _stream(conn, sql.SQL("""
        SELECT p.passage_id::text AS passage_id, p.doc_id::text AS doc_id, p.section,
               left(p.passage_text, {chars}) AS text_preview, s.shard
        FROM passages p
        JOIN (SELECT DISTINCT passage_id, shard FROM {scope}) s ON s.passage_id = p.passage_id
        ORDER BY p.passage_id""").format(chars=sql.Literal(TEXT_PREVIEW_CHARS),
                                         scope=sql.Identifier(SCOPE_TABLE)), batch_size)


def stream_concepts(conn: psycopg.Connection, batch_size: int) -> Iterator[list[dict]]:
    """Distinct concepts in scope: type, name (the graph derives the key and label)."""
    return _stream(conn, sql.SQL("""
        SELECT DISTINCT concept_type AS type, concept_name AS name FROM {}
        ORDER BY 1, 2""").format(sql.Identifier(SCOPE_TABLE)), batch_size)


def stream_mentions(conn: psycopg.Connection, batch_size: int) -> Iterator[list[dict]]:
    """Mentions in scope, one row per passage with all its merged concepts, so a passage's
    mentions are always written (and pruned) together. ``batch_size`` counts passages."""
    return _stream(conn, sql.SQL("""
        SELECT passage_id::text AS passage_id,
               json_agg(json_build_object('type', concept_type, 'name', concept_name,
                                          'confidence', confidence, 'extractor_version', extractor_version)
                        ORDER BY concept_type, concept_name) AS mentions
        FROM {} GROUP BY passage_id ORDER BY passage_id""").format(sql.Identifier(SCOPE_TABLE)), batch_size)


def scope_high_water(conn: psycopg.Connection) -> datetime | None:
    """The newest passage_concepts.created_at among the passages in scope: the watermark
    to store once the scope is in the graph."""
    return conn.execute(sql.SQL("""
        SELECT max(pc.created_at) FROM passage_concepts pc
        WHERE pc.passage_id IN (SELECT passage_id FROM {})""").format(sql.Identifier(SCOPE_TABLE))).fetchone()[0]


# ---- watermark (kb_migrations checkpoint) -------------------------------------------------

def read_watermark(conn: psycopg.Connection, shard: int | None, graph_epoch: str | None = None) -> datetime | None:
    """The shard's watermark, or None when it was recorded against another graph (the
    graph was emptied or replaced since: everything must be projected again)."""
    row = conn.execute("SELECT checkpoint->>'watermark', checkpoint->>'graph_epoch' FROM kb_migrations "
                       "WHERE job_name = %s", (job_name(shard),)).fetchone()
    if not row or not row[0] or (graph_epoch is not None and row[1] != graph_epoch):
        return None
    return datetime.fromisoformat(row[0])


def save_watermark(conn: psycopg.Connection, shard: int | None, watermark: datetime | None,
                   counts: dict[str, int], graph_epoch: str | None = None) -> None:
    """Record the shard's watermark (kept when this run found nothing newer) and the
    epoch of the graph it was written to."""
    checkpoint = {"counts": counts}
    if watermark is not None:
        checkpoint["watermark"] = watermark.isoformat()
    if graph_epoch is not None:
        checkpoint["graph_epoch"] = graph_epoch
    conn.execute("""
        INSERT INTO kb_migrations (job_name, status, checkpoint, completed_at)
        VALUES (%(job)s, 'completed', %(checkpoint)s::jsonb, now())
        ON CONFLICT (job_name) DO UPDATE SET
            status = 'completed', completed_at = now(), updated_at = now(),
            checkpoint = kb_migrations.checkpoint || EXCLUDED.checkpoint""",
                 {"job": job_name(shard), "checkpoint": json.dumps(checkpoint)})


# ---- reconciliation -------------------------------------------------------------------------

def expected_counts(conn: psycopg.Connection, shard: int | None, shard_count: int,
                    concept_types: Sequence[str] = CONCEPT_TYPES) -> dict[str, int]:
    """What the graph must hold for the shard's whole scope (every passage of the shard
    with merged concepts): papers, passages, concepts (distinct concepts its passages
    mention), mentions, from_paper (one per passage)."""
    row = conn.execute(sql.SQL("""
        SELECT count(DISTINCT doc_id) AS papers, count(DISTINCT passage_id) AS passages,
               count(DISTINCT (concept_type, concept_name)) AS concepts, count(*) AS mentions,
               count(DISTINCT passage_id) AS from_paper
        FROM ({}) s""").format(_scope_select(shard, shard_count, None)),
        {"types": list(concept_types), "watermark": None}).fetchone()
    names = ("papers", "passages", "concepts", "mentions", "from_paper")
    return dict(zip(names, (int(v) for v in row)))
