"""Bulk loading of concept rows and request outcomes: COPY into temporary tables, then
one set-based statement each. Never one INSERT or UPDATE per row."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg


@dataclass(frozen=True)
class ConceptRow:
    passage_id: str
    concept_name: str
    concept_type: str
    aliases: list[str]
    confidence: float
    extractor_model: str
    extractor_version: str
    evidence: dict


@dataclass(frozen=True)
class Outcome:
    """What happened to one passage's request in a job."""
    passage_id: str
    ok: bool
    concept_count: int
    error: str | None


def load_concepts(conn: psycopg.Connection, rows: Iterable[ConceptRow]) -> int:
    """Insert concept rows; rows already present (same passage, version, name) are left
    alone, so loading the same results twice changes nothing. Returns rows inserted."""
    conn.execute("""CREATE TEMP TABLE IF NOT EXISTS stage_concepts
                    (LIKE passage_concepts INCLUDING DEFAULTS) ON COMMIT DELETE ROWS""")
    conn.execute("TRUNCATE stage_concepts")
    columns = "passage_id, concept_name, concept_type, aliases, confidence, extractor_model, extractor_version, evidence"
    with conn.cursor() as cur, cur.copy(f"COPY stage_concepts ({columns}) FROM STDIN") as copy:
        for r in rows:
            copy.write_row((r.passage_id, r.concept_name, r.concept_type, json.dumps(r.aliases, ensure_ascii=False),
                            r.confidence, r.extractor_model, r.extractor_version,
                            json.dumps(r.evidence, ensure_ascii=False)))
    return conn.execute(f"""
        INSERT INTO passage_concepts ({columns})
        SELECT {columns} FROM stage_concepts
        ON CONFLICT (passage_id, extractor_version, concept_name) DO NOTHING""").rowcount


def record_outcomes(conn: psycopg.Connection, *, version: str, job_id: int, outcomes: Iterable[Outcome],
                    max_attempts: int) -> dict[str, int]:
    """Apply a job's per-passage outcomes to the ledger in one UPDATE; count them by status."""
    conn.execute("""CREATE TEMP TABLE IF NOT EXISTS stage_outcomes
                    (passage_id uuid, ok boolean, concept_count int, error text) ON COMMIT DELETE ROWS""")
    conn.execute("TRUNCATE stage_outcomes")
    with conn.cursor() as cur, cur.copy("COPY stage_outcomes (passage_id, ok, concept_count, error) FROM STDIN") as copy:
        for o in outcomes:
            copy.write_row((o.passage_id, o.ok, o.concept_count, o.error))
    rows = conn.execute(
        """UPDATE passage_requests r
           SET status = CASE WHEN o.ok THEN 'done'
                             WHEN r.attempts + 1 >= %(max)s THEN 'dead' ELSE 'failed' END,
               attempts = r.attempts + CASE WHEN o.ok THEN 0 ELSE 1 END,  -- counts this request's failures
               concept_count = CASE WHEN o.ok THEN o.concept_count END,
               last_error = o.error, updated_at = now()
           FROM stage_outcomes o
           WHERE r.extractor_version = %(version)s AND r.passage_id = o.passage_id
             AND r.job_id = %(job)s AND r.status = 'in_flight'
           RETURNING r.status""",
        dict(max=max_attempts, version=version, job=job_id)).fetchall()
    counts: dict[str, int] = {}
    for (status,) in rows:
        counts[status] = counts.get(status, 0) + 1
    return counts


def version_row_count(conn: psycopg.Connection, version: str) -> int:
    """Concept rows of one extractor version (what a rollback would delete)."""
    return conn.execute("SELECT count(*) FROM passage_concepts WHERE extractor_version = %s",
                        (version,)).fetchone()[0]


def in_canonical_view(conn: psycopg.Connection, passage_id: str, surface: str, concept_id: int) -> bool:
    """Whether the merge-policy view holds this (passage, surface) resolved to this concept."""
    return conn.execute("SELECT 1 FROM passage_concepts_canonical WHERE passage_id = %s AND concept_name = %s "
                        "AND concept_id = %s", (passage_id, surface, concept_id)).fetchone() is not None
