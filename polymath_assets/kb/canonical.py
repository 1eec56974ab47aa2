"""SQL of canonical concepts: the resolver's store (key and acronym look-ups, HNSW
neighbours of name vectors, bulk creation of concepts and aliases), the surfaces still
to resolve, and the run log. Bulk writes go through COPY; never one INSERT per row."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import numpy as np
import psycopg

from polymath_assets.concepts.resolver import Decision, Surface
from polymath_assets.kb.embeddings import _ensure_vector_adapter


class CanonicalStore:
    """The resolver's view of the database, on one connection (the caller commits)."""

    def __init__(self, conn: psycopg.Connection, ef_search: int = 64):
        self.conn = conn
        self.ef_search = ef_search
        _ensure_vector_adapter(conn)

    def concepts_for_keys(self, keys: Sequence[str]) -> dict[str, list[tuple[int, str, bool]]]:
        """key → [(concept id, alias type, decided by an operator)], pinned decisions first.

        A concept an operator split off (and did not undo) is closed: it holds exactly
        the surfaces put there, so no key or acronym match joins anything to it — else a
        full re-resolution would pull ``CNN`` into the concept ``CNNs`` was split into."""
        found: dict[str, list[tuple[int, str, bool]]] = {}
        if not keys:
            return found
        rows = self.conn.execute(
            """SELECT norm_key, concept_id, concept_type, bool_or(stage = 'manual'), bool_or(pinned)
               FROM concept_aliases WHERE norm_key = ANY(%s)
                 AND concept_id NOT IN (SELECT to_concept FROM concept_merges
                                        WHERE kind = 'split' AND undone_by IS NULL)
               GROUP BY 1, 2, 3 ORDER BY 1, 5 DESC, 2""", (list(keys),)).fetchall()
        for key, cid, ctype, manual, _ in rows:
            found.setdefault(key, []).append((cid, ctype, manual))
        return found

    def expansions_for(self, acronym_keys: Sequence[str]) -> dict[str, list[tuple[str, int]]]:
        found: dict[str, list[tuple[str, int]]] = {}
        if acronym_keys:
            for a, e, n in self.conn.execute(
                    "SELECT acronym_key, expansion_key, passages FROM concept_acronyms WHERE acronym_key = ANY(%s)",
                    (list(acronym_keys),)):
                found.setdefault(a, []).append((e, n))
        return found

    def acronyms_for(self, expansion_keys: Sequence[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        if expansion_keys:
            for e, a in self.conn.execute(
                    "SELECT expansion_key, acronym_key FROM concept_acronyms WHERE expansion_key = ANY(%s)",
                    (list(expansion_keys),)):
                found.setdefault(e, []).append(a)
        return found

    def neighbours(self, vectors: np.ndarray, k: int) -> list[list[tuple[int, str, str, float]]]:
        """For each unit vector, up to k concepts nearest by cosine through the HNSW index,
        best first, as (concept id, type, preferred name, cosine similarity). A concept an
        operator merged away is replaced by the one it was merged into."""
        if len(vectors) == 0:
            return []
        conn = self.conn
        with conn.transaction():
            conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(max(self.ef_search, k)),))
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS stage_name_vectors (ord int, v vector) ON COMMIT DELETE ROWS")
            conn.execute("TRUNCATE stage_name_vectors")
            with conn.cursor() as cur, cur.copy("COPY stage_name_vectors (ord, v) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int4", "vector"])
                for i, vector in enumerate(vectors):
                    copy.write_row((i, np.asarray(vector, dtype=np.float32)))
            rows = conn.execute(
                """SELECT q.ord, coalesce(t.concept_id, n.concept_id), coalesce(t.concept_type, n.concept_type),
                          coalesce(t.preferred_name, n.preferred_name), 1 - n.distance
                   FROM stage_name_vectors q
                   CROSS JOIN LATERAL (
                       SELECT c.concept_id, c.concept_type, c.preferred_name, c.merged_into,
                              c.name_embedding <=> q.v AS distance
                       FROM concepts c WHERE c.name_embedding IS NOT NULL
                       ORDER BY c.name_embedding <=> q.v LIMIT %s) n
                   LEFT JOIN concepts t ON t.concept_id = n.merged_into
                   ORDER BY q.ord, n.distance""", (int(k),)).fetchall()
        out: list[list[tuple[int, str, str, float]]] = [[] for _ in range(len(vectors))]
        for ord_, cid, ctype, name, score in rows:
            out[ord_].append((cid, ctype, name, float(score)))
        return out

    def create_concepts(self, rows: list[tuple[str, str, np.ndarray | None]]) -> list[int]:
        """New concepts (preferred name, type, centre vector or None); ids in input order."""
        if not rows:
            return []
        ids = [r[0] for r in self.conn.execute(
            "SELECT nextval(pg_get_serial_sequence('concepts', 'concept_id')) FROM generate_series(1, %s)",
            (len(rows),))]
        with self.conn.cursor() as cur, cur.copy(
                "COPY concepts (concept_id, preferred_name, concept_type, name_embedding) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "text", "text", "vector"])
            for cid, (name, ctype, vector) in zip(ids, rows):
                copy.write_row((cid, name, ctype, None if vector is None else np.asarray(vector, dtype=np.float32)))
        return ids


RUN_SURFACES = "concept_run_surfaces"


def snapshot_surfaces(conn: psycopg.Connection) -> None:
    """The distinct (surface, type) pairs of passage_concepts with how often each is
    written, as one statement sees them, into a temporary table for this run. The run
    resolves and measures exactly these: rows other processes commit meanwhile (a
    concurrent backfill) belong to the next run, not to this run's coverage."""
    conn.execute(f"DROP TABLE IF EXISTS {RUN_SURFACES}")
    conn.execute(f"""CREATE TEMP TABLE {RUN_SURFACES} ON COMMIT DROP AS
                     SELECT concept_name AS surface, concept_type, count(*) AS n FROM passage_concepts GROUP BY 1, 2""")


def unresolved_surfaces(conn: psycopg.Connection) -> list[Surface]:
    """The run's (surface, type) pairs without an alias, with how often each is written
    (``snapshot_surfaces`` first)."""
    rows = conn.execute(
        f"""SELECT s.surface, s.concept_type, s.n FROM {RUN_SURFACES} s
            WHERE NOT EXISTS (SELECT 1 FROM concept_aliases a
                              WHERE a.surface = s.surface AND a.concept_type = s.concept_type)
            ORDER BY 1, 2""").fetchall()
    return [Surface(name, ctype, n) for name, ctype, n in rows]


def run_coverage(conn: psycopg.Connection) -> tuple[int, int]:
    """(the run's surfaces with an alias, the run's surfaces), in the run's transaction."""
    return conn.execute(
        f"""SELECT count(a.surface), count(*) FROM {RUN_SURFACES} s
            LEFT JOIN concept_aliases a ON a.surface = s.surface AND a.concept_type = s.concept_type""").fetchone()


def unscanned_passages(conn: psycopg.Connection, limit: int) -> list[tuple[str, str]]:
    """Up to ``limit`` passages with concepts whose text was not yet scanned for acronyms."""
    return conn.execute(
        """SELECT p.passage_id::text, p.passage_text FROM passages p
           WHERE EXISTS (SELECT 1 FROM passage_concepts pc WHERE pc.passage_id = p.passage_id)
             AND NOT EXISTS (SELECT 1 FROM concept_acronym_scans s WHERE s.passage_id = p.passage_id)
           ORDER BY p.passage_id LIMIT %s""", (int(limit),)).fetchall()


def record_acronyms(conn: psycopg.Connection, pairs: Iterable[tuple[str, str, str, str, int]],
                    scanned: Iterable[str] = ()) -> None:
    """Add (acronym key, expansion key, acronym, expansion, passages) counts and mark passages scanned."""
    rows = list(pairs)  # unique by (acronym key, expansion key): one statement may upsert them all
    if rows:
        columns = [list(column) for column in zip(*rows)]
        conn.execute(
            """INSERT INTO concept_acronyms (acronym_key, expansion_key, acronym, expansion, passages)
               SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::int[])
               ON CONFLICT (acronym_key, expansion_key)
               DO UPDATE SET passages = concept_acronyms.passages + excluded.passages""", columns)
    ids = list(scanned)
    if ids:
        conn.execute("INSERT INTO concept_acronym_scans SELECT unnest(%s::uuid[]) ON CONFLICT DO NOTHING", (ids,))


def write_aliases(conn: psycopg.Connection, decisions: Iterable[Decision], version: str) -> int:
    """Insert the decided aliases; an alias that exists already is left as it is (the
    resolver never overwrites a decision, a pinned one least of all). Returns rows inserted."""
    conn.execute("""CREATE TEMP TABLE IF NOT EXISTS stage_aliases
                    (surface text, concept_type text, concept_id bigint, norm_key text, stage text, score real)
                    ON COMMIT DELETE ROWS""")
    conn.execute("TRUNCATE stage_aliases")
    with conn.cursor() as cur, cur.copy(
            "COPY stage_aliases (surface, concept_type, concept_id, norm_key, stage, score) FROM STDIN") as copy:
        for d in decisions:
            copy.write_row((d.name, d.type, d.concept_id, d.key, d.stage, d.score))
    return conn.execute(
        """INSERT INTO concept_aliases (surface, concept_type, concept_id, norm_key, stage, score, resolver_version)
           SELECT surface, concept_type, concept_id, norm_key, stage, score, %s FROM stage_aliases
           ON CONFLICT (surface, concept_type) DO NOTHING""", (version,)).rowcount


def forget_unpinned(conn: psycopg.Connection) -> tuple[int, int]:
    """For a full re-resolution: delete every alias the resolver decided (pinned ones stay)
    and the concepts left without aliases that no merge-log entry refers to.
    Returns (aliases deleted, concepts deleted)."""
    aliases = conn.execute("DELETE FROM concept_aliases WHERE NOT pinned").rowcount
    conn.execute("UPDATE concepts c SET merged_into = NULL WHERE merged_into IS NOT NULL AND NOT EXISTS "
                 "(SELECT 1 FROM concept_merges m WHERE c.concept_id IN (m.from_concept, m.to_concept))")
    concepts = conn.execute(
        """DELETE FROM concepts c
           WHERE NOT EXISTS (SELECT 1 FROM concept_aliases a WHERE a.concept_id = c.concept_id)
             AND NOT EXISTS (SELECT 1 FROM concept_merges m WHERE c.concept_id IN (m.from_concept, m.to_concept))
             AND NOT EXISTS (SELECT 1 FROM concepts o WHERE o.merged_into = c.concept_id)""").rowcount
    return aliases, concepts


RESOLVER_LOCK_ID = 0x636F6E6365707473  # "concepts": one writer of canonical concepts at a time


def lock_resolver(conn: psycopg.Connection, wait: bool = True) -> bool:
    """Who may write canonical concepts: the holder of this lock, held until its
    transaction ends. Resolver runs (the asset, `polymath concepts run`, `resolve`) take it
    so two never create concepts for the same surfaces; operators' merges, splits and
    undos take it so none lands between a run's reads and its writes (a run would put new
    aliases on a concept just merged away, or a full run delete the aliases a merge moves).
    ``wait=False``: True if taken now, False if another holder has it."""
    if wait:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (RESOLVER_LOCK_ID,))
        return True
    return conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (RESOLVER_LOCK_ID,)).fetchone()[0]


def start_run(conn: psycopg.Connection, version: str, full: bool) -> int:
    """Log a resolver run; the caller holds ``lock_resolver``."""
    # clock_timestamp(), not now(): now() is when the transaction began, before the wait for the lock
    return conn.execute("INSERT INTO concept_resolution_runs (resolver_version, full_rebuild, started_at) "
                        "VALUES (%s, %s, clock_timestamp()) RETURNING run_id", (version, full)).fetchone()[0]


def finish_run(conn: psycopg.Connection, run_id: int, *, surfaces: int, created: int, by_stage: dict,
               seconds: float) -> None:
    conn.execute("""UPDATE concept_resolution_runs SET surfaces = %s, concepts_created = %s, by_stage = %s,
                    seconds = %s, finished_at = clock_timestamp() WHERE run_id = %s""",
                 (surfaces, created, json.dumps(by_stage), seconds, run_id))


def cluster_sizes(conn: psycopg.Connection, limit: int = 10) -> tuple[list[tuple[int, str, int]], int, int]:
    """(the largest clusters as (id, preferred name, aliases), concepts, aliases)."""
    largest = conn.execute(
        """SELECT c.concept_id, c.preferred_name, count(*) FROM concept_aliases a JOIN concepts c USING (concept_id)
           GROUP BY 1, 2 ORDER BY 3 DESC, 1 LIMIT %s""", (limit,)).fetchall()
    concepts, aliases = conn.execute(
        "SELECT count(DISTINCT concept_id), count(*) FROM concept_aliases").fetchone()
    return largest, concepts, aliases


def last_version(conn: psycopg.Connection) -> str | None:
    """The resolver version of the last finished run (None before the first)."""
    row = conn.execute("SELECT resolver_version FROM concept_resolution_runs WHERE finished_at IS NOT NULL "
                       "ORDER BY run_id DESC LIMIT 1").fetchone()
    return row[0] if row else None


def lookup_aliases(conn: psycopg.Connection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, str]]:
    """(surface, type) → (concept id, preferred name) for those that have an alias."""
    if not keys:
        return {}
    rows = conn.execute(
        """SELECT k.surface, k.concept_type, c.concept_id, c.preferred_name
           FROM unnest(%s::text[], %s::text[]) AS k (surface, concept_type)
           JOIN concept_aliases a USING (surface, concept_type)
           JOIN concepts c ON c.concept_id = a.concept_id""",
        ([k[0] for k in keys], [k[1] for k in keys])).fetchall()
    return {(s, t): (cid, name) for s, t, cid, name in rows}
