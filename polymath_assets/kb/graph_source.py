"""What the concept graph projects, read from PostgreSQL (SQL only; no Cypher here).

The graph shows canonical concepts: one Concept node per ``concepts`` row, and one
MENTIONS per merge-policy row whose surface the resolver has mapped to a concept (view
``passage_concepts_canonical``). A row whose surface has no alias yet is not projected
(counted as ``unresolved``; the ``canonical_concepts`` asset runs before the graph, and its
aliases log the passages for the next sync).

The scope of a sync is the set of such rows of one shard (or of all shards) whose
concept type is in the graph's allow-list. A full scope is every such row of the shard;
an incremental scope is every such row of the passages the sync claimed from the change
log ``graph_changes`` (migration 015 explains why a log and not a watermark). Claimed
passages are re-projected whole, so their mentions in the graph can be replaced exactly;
claimed passages left with no row ("vanished", e.g. after a rollback) are removed from
the graph. Concepts whose alias list changed are claimed from ``graph_concept_changes``
(migration 027) and refreshed wherever they are in the graph.

``claim_changes`` and ``open_scope`` compute the claims and the scope once into temporary
tables (one consistent pass; the ``stream_*`` functions then read them through
server-side cursors in bounded batches). All of it lives in the caller's open
transaction: the claims are released and the temporary tables dropped at commit or rollback.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from polymath_assets.corpus.lexicon import CONCEPT_TYPES

SCOPE_TABLE = "graph_sync_scope"
CLAIM_TABLE = "graph_sync_claim"
CONCEPT_CLAIM_TABLE = "graph_sync_concept_claim"
RECONCILE_TABLE = "graph_reconcile_scope"
TEXT_PREVIEW_CHARS = 200


def job_name(shard: int | None) -> str:
    """The kb_migrations row holding a shard's graph sync checkpoint."""
    return "graph_sync:all" if shard is None else f"graph_sync:shard-{shard:03d}"


def _shard_passages(shard: int | None, shard_count: int, column: str) -> sql.Composable:
    # The modulus is a literal so the planner can use the (shard_hash % N) expression index.
    # (%% because these statements always run with parameters.) A restriction on the
    # view's own passage_id (its PARTITION BY column) is pushed into the window: only the
    # shard's concept rows are ranked.
    if shard is None:
        return sql.SQL("true")
    return sql.SQL("{} = ANY(ARRAY(SELECT passage_id FROM passages WHERE shard_hash %% {} = {}))").format(
        sql.SQL(column), sql.Literal(int(shard_count)), sql.Literal(int(shard)))


def _scope_select(shard: int | None, shard_count: int, *, incremental: bool,
                  known_types: bool = True) -> sql.Composable:
    claimed = sql.SQL("m.passage_id = ANY(ARRAY(SELECT DISTINCT passage_id FROM {}))").format(
        sql.Identifier(CLAIM_TABLE)) if incremental else sql.SQL("true")
    type_filter = sql.SQL("m.concept_id IS NOT NULL AND m.canonical_type = ANY(%(types)s)"
                          if known_types else "true")
    return sql.SQL("""
        SELECT m.passage_id, p.doc_id, p.shard_hash %% {n} AS shard, m.concept_type AS surface_type,
               m.concept_name AS surface, m.confidence, m.extractor_version, m.concept_id, m.canonical_type
        FROM passage_concepts_canonical m
        JOIN passages p ON p.passage_id = m.passage_id
        WHERE {shard_filter} AND {type_filter} AND {claimed}
    """).format(n=sql.Literal(int(shard_count)), shard_filter=_shard_passages(shard, shard_count, "m.passage_id"),
                type_filter=type_filter, claimed=claimed)


# ---- the change log ------------------------------------------------------------------------

GRAPH_SYNC_LOCK_ID = 0x706F6C7967726170  # "polygrap": one advisory lock for every graph sync


def lock_graph_sync(conn: psycopg.Connection) -> None:
    """Wait until no other graph sync runs, and hold that until the transaction ends.
    Syncs of different shards share Concept and Paper nodes: one shard's clean-up of
    nodes that nothing points at must not run between another's MERGE of a concept and
    its MERGE of the mention. The Dagster pool ``graph`` (limit 1) schedules the same; this
    lock also covers syncs started elsewhere (the CLI, a second code location)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (GRAPH_SYNC_LOCK_ID,))


def claim_changes(conn: psycopg.Connection, *, shard: int | None, shard_count: int) -> int:
    """Lock the shard's change-log rows that no other sync holds (SKIP LOCKED) into the
    claim table; return how many distinct passages they name. The lock lasts until the
    caller's transaction ends: ``consume_claim`` then deletes exactly these rows."""
    table = sql.Identifier(CLAIM_TABLE)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
    conn.execute(sql.SQL("CREATE TEMP TABLE {} (change_id bigint, passage_id uuid) ON COMMIT DROP").format(table))
    conn.execute(sql.SQL("""
        WITH claimed AS (
            SELECT change_id, passage_id FROM graph_changes
            WHERE {} FOR UPDATE SKIP LOCKED)
        INSERT INTO {} SELECT change_id, passage_id FROM claimed""").format(
        _shard_passages(shard, shard_count, "passage_id"), table), {})
    return conn.execute(sql.SQL("SELECT count(DISTINCT passage_id) FROM {}").format(table)).fetchone()[0]


def claim_concept_changes(conn: psycopg.Connection) -> list[int]:
    """Lock every concept-change row no other sync holds into the concept claim table;
    return the distinct concept ids (their nodes are refreshed whichever shard syncs)."""
    table = sql.Identifier(CONCEPT_CLAIM_TABLE)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
    conn.execute(sql.SQL("CREATE TEMP TABLE {} (change_id bigint, concept_id bigint) ON COMMIT DROP").format(table))
    conn.execute(sql.SQL("""
        WITH claimed AS (SELECT change_id, concept_id FROM graph_concept_changes FOR UPDATE SKIP LOCKED)
        INSERT INTO {} SELECT change_id, concept_id FROM claimed""").format(table))
    return [r[0] for r in conn.execute(sql.SQL("SELECT DISTINCT concept_id FROM {} ORDER BY 1").format(table))]


def consume_claim(conn: psycopg.Connection) -> int:
    """Delete the claimed change-log rows, of passages and of concepts (call once the
    graph holds them)."""
    conn.execute(sql.SQL("DELETE FROM graph_concept_changes WHERE change_id IN (SELECT change_id FROM {})").format(
        sql.Identifier(CONCEPT_CLAIM_TABLE)))
    return conn.execute(sql.SQL("DELETE FROM graph_changes WHERE change_id IN (SELECT change_id FROM {})").format(
        sql.Identifier(CLAIM_TABLE))).rowcount


# ---- the scope -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Scope:
    """A computed scope: its size, and how many rows were left out because their surface
    has no concept yet or their concept type is not in the allow-list (reported, never
    turned into a node or a label)."""

    mentions: int
    passages: int
    unresolved: int
    skipped_unknown_type: int


def open_scope(conn: psycopg.Connection, *, shard: int | None, shard_count: int, incremental: bool,
               concept_types: Sequence[str] = CONCEPT_TYPES) -> Scope:
    """Materialize the scope (the claimed passages when ``incremental``, else the whole
    shard) for the stream_* readers. ``claim_changes`` must have run first."""
    table = sql.Identifier(SCOPE_TABLE)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
    # One pass over the view; the rows left out are counted as they are removed.
    conn.execute(sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS {}").format(
        table, _scope_select(shard, shard_count, incremental=incremental, known_types=False)), {})
    unresolved = conn.execute(sql.SQL("DELETE FROM {} WHERE concept_id IS NULL").format(table)).rowcount
    skipped = conn.execute(sql.SQL("DELETE FROM {} WHERE canonical_type <> ALL(%s)").format(table),
                           (list(concept_types),)).rowcount
    conn.execute(sql.SQL("CREATE INDEX ON {} (passage_id)").format(table))
    conn.execute(sql.SQL("ANALYZE {}").format(table))
    mentions, passages = conn.execute(
        sql.SQL("SELECT count(*), count(DISTINCT passage_id) FROM {}").format(table)).fetchone()
    return Scope(mentions=mentions, passages=passages, unresolved=unresolved, skipped_unknown_type=skipped)


def claimed_passages(conn: psycopg.Connection) -> list[str]:
    """The passages of the changes this sync claimed."""
    return [r[0] for r in conn.execute(f"SELECT DISTINCT passage_id::text FROM {CLAIM_TABLE}")]


def vanished_passages(conn: psycopg.Connection) -> list[str]:
    """Claimed passages with no row in the scope: they must leave the graph."""
    return [r[0] for r in conn.execute(sql.SQL("""
        SELECT DISTINCT c.passage_id::text FROM {claim} c
        WHERE NOT EXISTS (SELECT 1 FROM {scope} s WHERE s.passage_id = c.passage_id)
        ORDER BY 1""").format(claim=sql.Identifier(CLAIM_TABLE), scope=sql.Identifier(SCOPE_TABLE)))]


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


def _preview() -> sql.Composable:
    return sql.SQL("left(p.passage_text, {})").format(sql.Literal(TEXT_PREVIEW_CHARS))


def stream_passages(conn: psycopg.Connection, batch_size: int) -> Iterator[list[dict]]:
    """Passages in scope: passage_id, doc_id, section, text_preview (<= 200 chars), shard."""
    return _stream(conn, sql.SQL("""
        SELECT p.passage_id::text AS passage_id, p.doc_id::text AS doc_id, p.section,
               {preview} AS text_preview, s.shard
        FROM passages p
        JOIN (SELECT DISTINCT passage_id, shard FROM {scope}) s ON s.passage_id = p.passage_id
        ORDER BY p.passage_id""").format(preview=_preview(), scope=sql.Identifier(SCOPE_TABLE)), batch_size)


def _concept_rows(ids: sql.Composable) -> sql.Composable:
    """Concept id, canonical type, preferred name and every alias surface (sorted, distinct)
    of the concepts ``ids`` selects, through concept_aliases_concept_idx."""
    return sql.SQL("""
        SELECT c.concept_id, c.concept_type AS type, c.preferred_name AS name,
               coalesce((SELECT array_agg(DISTINCT a.surface ORDER BY a.surface) FROM concept_aliases a
                         WHERE a.concept_id = c.concept_id), '{{}}') AS aliases
        FROM concepts c WHERE c.concept_id IN ({ids})""").format(ids=ids)


def stream_concepts(conn: psycopg.Connection, batch_size: int) -> Iterator[list[dict]]:
    """Distinct concepts in scope: concept_id, type, name (preferred), aliases."""
    return _stream(conn, sql.SQL("{} ORDER BY 1").format(_concept_rows(
        sql.SQL("SELECT concept_id FROM {}").format(sql.Identifier(SCOPE_TABLE)))), batch_size)


def claimed_concepts(conn: psycopg.Connection, concept_types: Sequence[str] = CONCEPT_TYPES) -> list[dict]:
    """The claimed concepts as they are now (those that still exist, of an allow-listed
    type, and not in the scope, whose concepts this sync wrote already): their nodes,
    wherever in the graph, get these properties."""
    with conn.cursor(row_factory=dict_row) as cursor:
        return cursor.execute(sql.SQL("{} AND c.concept_type = ANY(%s) ORDER BY 1").format(_concept_rows(
            sql.SQL("SELECT concept_id FROM {} EXCEPT SELECT concept_id FROM {}").format(
                sql.Identifier(CONCEPT_CLAIM_TABLE), sql.Identifier(SCOPE_TABLE)))),
            (list(concept_types),)).fetchall()


def stream_mentions(conn: psycopg.Connection, batch_size: int) -> Iterator[list[dict]]:
    """Mentions in scope, one row per passage with all its rows, so a passage's mentions
    are always written (and pruned) together. ``batch_size`` counts passages."""
    return _stream(conn, sql.SQL("""
        SELECT passage_id::text AS passage_id,
               json_agg(json_build_object('concept_id', concept_id, 'surface', surface,
                                          'surface_type', surface_type, 'confidence', confidence,
                                          'extractor_version', extractor_version)
                        ORDER BY surface_type, surface) AS mentions
        FROM {} GROUP BY passage_id ORDER BY passage_id""").format(sql.Identifier(SCOPE_TABLE)), batch_size)


# ---- checkpoint (kb_migrations) ----------------------------------------------------------

def policy_digest(conn: psycopg.Connection) -> str:
    """A fingerprint of the merge policy (preference order and floor): when it differs from
    the one a shard was synced under, the shard is re-projected whole."""
    row = conn.execute("""
        SELECT coalesce((SELECT string_agg(extractor_version || '=' || rank, ',' ORDER BY rank, extractor_version)
                         FROM extractor_preference), '') || ';' ||
               coalesce((SELECT confidence_floor::text FROM merge_settings), '')""").fetchone()
    return hashlib.sha256(row[0].encode()).hexdigest()[:16]


def read_checkpoint(conn: psycopg.Connection, shard: int | None) -> dict:
    row = conn.execute("SELECT checkpoint FROM kb_migrations WHERE job_name = %s", (job_name(shard),)).fetchone()
    return dict(row[0]) if row else {}


def save_checkpoint(conn: psycopg.Connection, shard: int | None, *, counts: dict[str, int], graph_epoch: str,
                    policy: str) -> str:
    """Record the sync: ``watermark`` is the start of this transaction; every change
    committed before it is in the graph (it was claimed, or consumed by an earlier sync).
    Return it as ISO text."""
    checkpoint = {"counts": counts, "graph_epoch": graph_epoch, "policy": policy}
    return conn.execute("""
        INSERT INTO kb_migrations (job_name, status, checkpoint, completed_at)
        VALUES (%(job)s, 'completed', %(checkpoint)s::jsonb || jsonb_build_object('watermark', now()), now())
        ON CONFLICT (job_name) DO UPDATE SET
            status = 'completed', completed_at = now(), updated_at = now(),
            checkpoint = kb_migrations.checkpoint || EXCLUDED.checkpoint
        RETURNING checkpoint->>'watermark'""",
                        {"job": job_name(shard), "checkpoint": json.dumps(checkpoint)}).fetchone()[0]


# ---- reconciliation -------------------------------------------------------------------------

def expected_content(conn: psycopg.Connection, shard: int | None, shard_count: int,
                     concept_types: Sequence[str] = CONCEPT_TYPES) -> dict[str, list[tuple]]:
    """The content the reconciliation digests, per kind, as tuples of text:
    papers (doc_id, title), passages (passage_id, doc_id, text_preview) — each passage's
    FROM_PAPER is its doc_id —, concepts (concept_id, type, preferred name, aliases) and
    mentions (passage_id, concept_id, surface type, surface, extractor version)."""
    # The scope is read once, into a temporary table the four reads share: one pass over
    # the view, and all four kinds from the same moment of a database others write to.
    table = sql.Identifier(RECONCILE_TABLE)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
    conn.execute(sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS {}").format(
        table, _scope_select(shard, shard_count, incremental=False)), {"types": list(concept_types)})
    mentions = conn.execute(sql.SQL(
        "SELECT passage_id::text, concept_id, surface_type, surface, extractor_version FROM {}").format(table)).fetchall()
    passages = conn.execute(sql.SQL("""
        SELECT p.passage_id::text, p.doc_id::text, {preview} FROM passages p
        WHERE p.passage_id IN (SELECT passage_id FROM {scope})""").format(preview=_preview(), scope=table)).fetchall()
    papers = conn.execute(sql.SQL("""
        SELECT d.doc_id::text, d.title FROM documents d
        WHERE d.doc_id IN (SELECT doc_id FROM {})""").format(table)).fetchall()
    concepts = conn.execute(_concept_rows(sql.SQL("SELECT concept_id FROM {}").format(table))).fetchall()
    return {"papers": [tuple(r) for r in papers], "passages": [tuple(r) for r in passages],
            "concepts": [(cid, ctype, name, tuple(aliases)) for cid, ctype, name, aliases in concepts],
            "mentions": [tuple(r) for r in mentions]}
