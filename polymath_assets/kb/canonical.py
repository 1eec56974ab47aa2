"""SQL of canonical concepts: the resolver's store (key and acronym look-ups, HNSW
neighbours of name vectors, bulk creation of concepts and aliases), the surfaces still
to resolve, and the run log. Bulk writes go through COPY; never one INSERT per row."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import numpy as np
import psycopg

from polymath_assets.concepts.normalize import surface_key
from polymath_assets.concepts.resolver import Decision, Expansion, Surface
from polymath_assets.kb.embeddings import _ensure_vector_adapter

# A concept an operator split off (and did not undo) takes no alias by any match.
_OPEN = "concept_id NOT IN (SELECT to_concept FROM concept_merges WHERE kind = 'split' AND undone_by IS NULL)"


def _by_key(rows: Iterable[tuple]) -> dict[str, list[tuple[int, str, bool]]]:
    """(key, concept id, type, manual, ...) rows → key → [(concept id, type, manual)], in row order."""
    found: dict[str, list[tuple[int, str, bool]]] = {}
    for key, cid, ctype, manual, *_ in rows:
        found.setdefault(key, []).append((cid, ctype, manual))
    return found


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
        if not keys:
            return {}
        return _by_key(self.conn.execute(
            f"""SELECT norm_key, concept_id, concept_type, bool_or(stage = 'manual'), bool_or(pinned)
                FROM concept_aliases WHERE norm_key = ANY(%s) AND {_OPEN}
                GROUP BY 1, 2, 3 ORDER BY 1, 5 DESC, 2""", (list(keys),)))

    def concepts_with_heads(self, keys: Sequence[str], heads: Sequence[str]) -> dict[str, list[tuple[int, str, bool]]]:
        """key → the concepts of the aliases keyed ``key + head`` for any of ``heads``, as
        ``concepts_for_keys`` gives them, in the order of ``heads`` (``ELMo`` finds ``ELMo
        embeddings``). One statement: each key with each head probed in the key index, so
        the query grows with keys × heads, never with a list of every combination sent."""
        if not keys or not heads:
            return {}
        return _by_key(self.conn.execute(
            f"""SELECT k.key, a.concept_id, a.concept_type, bool_or(a.stage = 'manual'), bool_or(a.pinned), h.n
                FROM unnest(%s::text[]) AS k (key) CROSS JOIN unnest(%s::text[]) WITH ORDINALITY AS h (head, n)
                JOIN concept_aliases a ON a.norm_key = k.key || h.head
                WHERE {_OPEN}
                GROUP BY 1, 2, 3, 6 ORDER BY 1, 6, 5 DESC, 2""", (list(keys), list(heads))))

    def alias_surfaces(self, joined: Sequence[tuple[str, int]]) -> dict[tuple[str, int], list[str]]:
        """(key, concept id) → surfaces of that concept's aliases with that key: the ones a
        new surface met by its key (a few suffice to tell which variant rule it needed; an
        alias of another concept, of a type it may not join, is none of them)."""
        if not joined:
            return {}
        rows = self.conn.execute(
            """SELECT q.norm_key, q.concept_id, (array_agg(a.surface ORDER BY a.surface))[1:20]
               FROM unnest(%s::text[], %s::bigint[]) AS q (norm_key, concept_id)
               JOIN concept_aliases a ON a.norm_key = q.norm_key AND a.concept_id = q.concept_id
               GROUP BY 1, 2""", ([k for k, _ in joined], [c for _, c in joined]))
        return {(key, cid): surfaces for key, cid, surfaces in rows}

    def expansions_for(self, acronym_keys: Sequence[str]) -> dict[str, list[Expansion]]:
        """acronym key → [(expansion key, documents, the expansion as written)]."""
        found: dict[str, list[Expansion]] = {}
        if acronym_keys:
            for a, e, n, written in self.conn.execute(
                    """SELECT acronym_key, expansion_key, documents, expansion FROM concept_acronyms
                       WHERE acronym_key = ANY(%s)""", (list(acronym_keys),)):
                found.setdefault(a, []).append((e, n, written))
        return found

    def local_expansions(self, items: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str], list[Expansion]]:
        """For (surface, type, acronym key): the expansions defined for that acronym in the
        documents whose passages write the surface, with how many of them define each."""
        found: dict[tuple[str, str], list[Expansion]] = {}
        if items:
            rows = self.conn.execute(
                """SELECT i.surface, i.concept_type, d.expansion_key, count(DISTINCT d.doc_id), min(a.expansion)
                   FROM unnest(%s::text[], %s::text[], %s::text[]) AS i (surface, concept_type, acronym_key)
                   JOIN passage_concepts pc ON pc.concept_name = i.surface AND pc.concept_type = i.concept_type
                   JOIN passages p ON p.passage_id = pc.passage_id
                   JOIN concept_acronym_definitions d ON d.acronym_key = i.acronym_key AND d.doc_id = p.doc_id
                   JOIN concept_acronyms a ON a.acronym_key = d.acronym_key AND a.expansion_key = d.expansion_key
                   GROUP BY 1, 2, 3""",
                ([i[0] for i in items], [i[1] for i in items], [i[2] for i in items])).fetchall()
            for surface, type_, e, n, written in rows:
                found.setdefault((surface, type_), []).append((e, n, written))
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


def unscanned_passages(conn: psycopg.Connection, limit: int) -> list[tuple[str, str, str]]:
    """Up to ``limit`` passages with concepts whose text was not yet scanned for acronyms,
    as (passage id, document id, text)."""
    return conn.execute(
        """SELECT p.passage_id::text, p.doc_id::text, p.passage_text FROM passages p
           WHERE EXISTS (SELECT 1 FROM passage_concepts pc WHERE pc.passage_id = p.passage_id)
             AND NOT EXISTS (SELECT 1 FROM concept_acronym_scans s WHERE s.passage_id = p.passage_id)
           ORDER BY p.passage_id LIMIT %s""", (int(limit),)).fetchall()


def record_definitions(conn: psycopg.Connection, definitions: Iterable[tuple[str, str, str, str, str, str]],
                       scanned: Iterable[str]) -> list[str]:
    """Record the definitions found in a page of passages, as (passage id, document id,
    acronym key, expansion key, acronym, expansion), and mark the passages scanned. A pair's
    ``documents`` grows by the documents that had not defined it before: only definitions in
    passages count (a surface written ``expansion (ACR)`` is no vote, whatever the comment
    of migration 036 says). Returns the acronym keys whose counts changed."""
    conn.execute("""CREATE TEMP TABLE IF NOT EXISTS stage_definitions
                    (passage_id uuid, doc_id uuid, acronym_key text, expansion_key text, acronym text, expansion text)
                    ON COMMIT DELETE ROWS""")
    conn.execute("TRUNCATE stage_definitions")
    with conn.cursor() as cur, cur.copy("COPY stage_definitions FROM STDIN") as copy:
        for row in definitions:
            copy.write_row(row)
    touched = [r[0] for r in conn.execute(
        """WITH fresh AS (
               SELECT s.acronym_key, s.expansion_key, min(s.acronym) AS acronym, min(s.expansion) AS expansion,
                      count(DISTINCT s.passage_id) AS passages,
                      count(DISTINCT s.doc_id) FILTER (WHERE NOT EXISTS (
                          SELECT 1 FROM concept_acronym_definitions d WHERE d.acronym_key = s.acronym_key
                          AND d.doc_id = s.doc_id AND d.expansion_key = s.expansion_key)) AS documents
               FROM stage_definitions s
               WHERE NOT EXISTS (SELECT 1 FROM concept_acronym_definitions d WHERE d.passage_id = s.passage_id
                                 AND d.acronym_key = s.acronym_key AND d.expansion_key = s.expansion_key)
               GROUP BY 1, 2)
           INSERT INTO concept_acronyms (acronym_key, expansion_key, acronym, expansion, passages, documents)
           SELECT * FROM fresh
           ON CONFLICT (acronym_key, expansion_key)
           DO UPDATE SET passages = concept_acronyms.passages + excluded.passages,
                         documents = concept_acronyms.documents + excluded.documents
           RETURNING acronym_key""")]
    conn.execute("""INSERT INTO concept_acronym_definitions (passage_id, acronym_key, expansion_key, doc_id)
                    SELECT DISTINCT passage_id, acronym_key, expansion_key, doc_id FROM stage_definitions
                    ON CONFLICT DO NOTHING""")
    ids = list(scanned)
    if ids:
        conn.execute("INSERT INTO concept_acronym_scans SELECT unnest(%s::uuid[]) ON CONFLICT DO NOTHING", (ids,))
    return sorted(set(touched))


def forget_acronyms(conn: psycopg.Connection) -> None:
    """For a full re-resolution: every definition is read again from the passages (the
    reading may have changed with the resolver version)."""
    conn.execute("DELETE FROM concept_acronym_definitions")
    conn.execute("DELETE FROM concept_acronyms")
    conn.execute("DELETE FROM concept_acronym_scans")


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
    return aliases, _delete_orphans(conn, "true", ())


def rekey_pinned(conn: psycopg.Connection) -> int:
    """For a full re-resolution: the key of every pinned alias built again by the current
    rules (a resolver version may change them: spelling, plurals, token rules), so an
    operator's decision meets new surfaces by today's key, not the one it was made under.
    The changed keys are copied into a temporary table and applied by one UPDATE.
    Returns the aliases whose key changed."""
    changed = [(surface, ctype, key) for surface, ctype, old in conn.execute(
                   "SELECT surface, concept_type, norm_key FROM concept_aliases WHERE pinned")
               if (key := surface_key(surface)) != old]
    if not changed:
        return 0
    conn.execute("""CREATE TEMP TABLE IF NOT EXISTS stage_alias_keys (surface text, concept_type text, norm_key text)
                    ON COMMIT DELETE ROWS""")
    conn.execute("TRUNCATE stage_alias_keys")
    with conn.cursor() as cur, cur.copy("COPY stage_alias_keys (surface, concept_type, norm_key) FROM STDIN") as copy:
        for row in changed:
            copy.write_row(row)
    return conn.execute("""UPDATE concept_aliases a SET norm_key = k.norm_key FROM stage_alias_keys k
                           WHERE a.surface = k.surface AND a.concept_type = k.concept_type""").rowcount


def forget_concepts_of_keys(conn: psycopg.Connection, keys: Sequence[str]) -> tuple[int, int]:
    """The evidence for these (acronym) keys changed: delete the unpinned aliases of every
    concept that holds an unpinned alias with one of the keys, so this run decides them
    again, and the concepts left empty. Only the run's own surfaces (``snapshot_surfaces``
    first) are forgotten: a name saved by ``concepts resolve --save`` that no passage
    writes would not be decided again. Returns (aliases deleted, concepts deleted)."""
    if not keys:
        return 0, 0
    hit = [r[0] for r in conn.execute(
        "SELECT DISTINCT concept_id FROM concept_aliases WHERE norm_key = ANY(%s) AND NOT pinned", (list(keys),))]
    if not hit:
        return 0, 0
    aliases = conn.execute(
        f"""DELETE FROM concept_aliases a WHERE a.concept_id = ANY(%s) AND NOT a.pinned
            AND EXISTS (SELECT 1 FROM {RUN_SURFACES} s WHERE s.surface = a.surface AND s.concept_type = a.concept_type)""",
        (hit,)).rowcount
    return aliases, _delete_orphans(conn, "c.concept_id = ANY(%s)", (hit,))


def _delete_orphans(conn: psycopg.Connection, where: str, params: tuple) -> int:
    """Delete the concepts (among ``where``) without aliases that nothing refers to."""
    return conn.execute(
        f"""DELETE FROM concepts c
            WHERE {where}
              AND NOT EXISTS (SELECT 1 FROM concept_aliases a WHERE a.concept_id = c.concept_id)
              AND NOT EXISTS (SELECT 1 FROM concept_merges m WHERE c.concept_id IN (m.from_concept, m.to_concept))
              AND NOT EXISTS (SELECT 1 FROM concepts o WHERE o.merged_into = c.concept_id)""", params).rowcount


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


def start_run(conn: psycopg.Connection, version: str, full: bool, similarity: float | None = None,
              similarity_source: str | None = None) -> int:
    """Log a resolver run; the caller holds ``lock_resolver``."""
    # clock_timestamp(), not now(): now() is when the transaction began, before the wait for the lock
    return conn.execute(
        """INSERT INTO concept_resolution_runs (resolver_version, full_rebuild, started_at, similarity, similarity_source)
           VALUES (%s, %s, clock_timestamp(), %s, %s) RETURNING run_id""",
        (version, full, similarity, similarity_source)).fetchone()[0]


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


def last_run(conn: psycopg.Connection) -> tuple[str, float | None] | None:
    """(resolver version, embedding threshold) of the last finished run (None before the first)."""
    row = conn.execute("SELECT resolver_version, similarity FROM concept_resolution_runs WHERE finished_at IS NOT NULL "
                       "ORDER BY run_id DESC LIMIT 1").fetchone()
    return None if row is None else (row[0], None if row[1] is None else float(row[1]))


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


def calibrated_threshold(conn: psycopg.Connection, model: str) -> tuple[float, str] | None:
    """(threshold, what it was calibrated on) recorded for an embedding model, or None."""
    row = conn.execute("SELECT similarity, gold_file, calibrated_at FROM concept_resolver_config "
                       "WHERE embedding_model = %s", (model,)).fetchone()
    return None if row is None else (float(row[0]), f"calibrated on {row[1]} at {str(row[2])[:19]}")


def save_calibration(conn: psycopg.Connection, *, model: str, similarity: float, gold_file: str, gold_sha256: str,
                     gold_surfaces: int, min_precision: float, precision: float, recall: float, b3_f1: float,
                     sweep: list[dict], actor: str) -> None:
    """Record (or replace) the threshold of an embedding model in the resolver's configuration."""
    conn.execute(
        """INSERT INTO concept_resolver_config (embedding_model, similarity, gold_file, gold_sha256, gold_surfaces,
               min_precision, precision, recall, b3_f1, sweep, calibrated_by)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (embedding_model) DO UPDATE SET similarity = excluded.similarity,
               gold_file = excluded.gold_file, gold_sha256 = excluded.gold_sha256,
               gold_surfaces = excluded.gold_surfaces, min_precision = excluded.min_precision,
               precision = excluded.precision, recall = excluded.recall, b3_f1 = excluded.b3_f1,
               sweep = excluded.sweep, calibrated_by = excluded.calibrated_by, calibrated_at = now()""",
        (model, similarity, gold_file, gold_sha256, gold_surfaces, min_precision, precision, recall, b3_f1,
         json.dumps(sweep), actor))
