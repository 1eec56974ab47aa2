"""Read queries for verification and vector search (pgvector, HNSW)."""

from __future__ import annotations

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg.rows import dict_row

TRACEABILITY_SQL = """WITH sampled AS MATERIALIZED (
       SELECT passage_id FROM passage_concepts
       WHERE extractor_version = %(version)s
       ORDER BY extractor_version, shard, passage_id LIMIT %(sample)s)
   SELECT m.concept_name, m.concept_type, m.passage_id::text, left(p.passage_text, 100) AS passage,
          d.title, d.doi, p.embedding IS NOT NULL AS has_embedding
   FROM passage_concepts_merged m
   JOIN passages p USING (passage_id) JOIN documents d USING (doc_id)
   WHERE m.passage_id = ANY(ARRAY(SELECT passage_id FROM sampled)) AND m.extractor_version = %(version)s
   ORDER BY m.confidence DESC, m.passage_id, m.concept_name LIMIT %(limit)s"""


def traceability(conn: psycopg.Connection, version: str, limit: int = 3, sample: int = 50) -> list[dict]:
    """concept → passage → paper, with whether the passage has an embedding, for a sample
    of the version's passages. The sample is read in index order from the version's concept
    rows (``(extractor_version, shard, passage_id)``; rows of any version count, not only
    those this tool extracted) and the merge view is asked only about those passages (its
    window partitions by passage, so the filter reaches the index): the cost does not
    grow with the corpus, unlike sorting the whole merged view."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            TRACEABILITY_SQL,
            dict(version=version, sample=int(sample), limit=int(limit))).fetchall()


def sample_embedded_passage(conn: psycopg.Connection) -> tuple[str, np.ndarray] | None:
    register_vector(conn)
    return conn.execute(
        """SELECT passage_id::text, embedding FROM passages WHERE embedding IS NOT NULL
           ORDER BY passage_id LIMIT 1""").fetchone()


def nearest_passages(conn: psycopg.Connection, vector: np.ndarray, k: int, *, year_from: int | None = None,
                     concept_type: str | None = None) -> list[dict]:
    """Top-k passages by cosine distance with their paper and top concepts. Filters use
    pgvector 0.8's iterative index scans so a selective filter still returns k rows."""
    register_vector(conn)
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        cur.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(max(40, 2 * k)),))
        return cur.execute(
            """SELECT p.passage_id::text, d.title, d.doi, d.year, left(p.passage_text, 160) AS preview,
                      (p.embedding <=> %(v)s)::float AS distance,
                      ARRAY(SELECT m.concept_name FROM passage_concepts_merged m
                            WHERE m.passage_id = p.passage_id ORDER BY m.confidence DESC LIMIT 5) AS concepts
               FROM passages p JOIN documents d USING (doc_id)
               WHERE p.embedding IS NOT NULL
                 AND (%(year)s::int IS NULL OR d.year >= %(year)s)
                 AND (%(ctype)s::text IS NULL OR EXISTS (
                        SELECT 1 FROM passage_concepts_merged m
                        WHERE m.passage_id = p.passage_id AND m.concept_type = %(ctype)s))
               ORDER BY p.embedding <=> %(v)s LIMIT %(k)s""",
            {"v": vector, "k": k, "year": year_from, "ctype": concept_type}).fetchall()
