"""The numbers behind the QC report and the acceptance gates, for one extractor version
(optionally one shard). Set-based SQL over passage_concepts, the ledger and batch_jobs."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row


def extraction_metrics(conn: psycopg.Connection, version: str, shard: int | None = None) -> dict:
    params = dict(version=version, shard=shard)
    scope = "r.extractor_version = %(version)s AND (%(shard)s::int IS NULL OR r.shard = %(shard)s)"
    with conn.cursor(row_factory=dict_row) as cur:
        concepts = cur.execute(f"""
            SELECT count(*) AS concepts,
                   count(*) FILTER (WHERE c.evidence IS NOT NULL AND jsonb_typeof(c.evidence) = 'object') AS with_evidence,
                   count(*) FILTER (WHERE c.evidence->'quality'->>'alignment' IN ('exact', 'normalized', 'fuzzy')) AS aligned,
                   count(*) FILTER (WHERE length(c.concept_name) > 60) AS long_names
            FROM passage_concepts c JOIN passage_requests r
              ON r.passage_id = c.passage_id AND r.extractor_version = c.extractor_version
            WHERE {scope}""", params).fetchone()
        alignment = {row["status"]: row["n"] for row in cur.execute(f"""
            SELECT coalesce(c.evidence->'quality'->>'alignment', 'none') AS status, count(*) AS n
            FROM passage_concepts c JOIN passage_requests r
              ON r.passage_id = c.passage_id AND r.extractor_version = c.extractor_version
            WHERE {scope} GROUP BY 1""", params)}
        per_passage = cur.execute(f"""
            SELECT count(*) AS passages_done, avg(concept_count)::float AS mean,
                   percentile_cont(0.1) WITHIN GROUP (ORDER BY concept_count) AS p10,
                   percentile_cont(0.9) WITHIN GROUP (ORDER BY concept_count) AS p90
            FROM passage_requests r WHERE {scope} AND r.status = 'done'""", params).fetchone()
        states = dict((row["status"], row["n"]) for row in cur.execute(f"""
            SELECT status, count(*) AS n FROM passage_requests r WHERE {scope} GROUP BY status""", params))
        responses = cur.execute("""
            SELECT coalesce(sum((result_stats->>'lines')::int), 0) AS lines,
                   coalesce(sum((result_stats->'outcomes'->>'parse_error')::int), 0) AS parse_errors,
                   coalesce(sum((result_stats->'outcomes'->>'request_error')::int), 0)
                     + coalesce(sum((result_stats->'outcomes'->>'truncated')::int), 0)
                     + coalesce(sum((result_stats->'outcomes'->>'empty')::int), 0)
                     + coalesce(sum((result_stats->>'missing_keys')::int), 0) AS request_errors,
                   coalesce(sum(estimated_cost_usd) FILTER (WHERE state = 'ingested'), 0)::float AS estimated_usd,
                   coalesce(sum(actual_cost_usd), 0)::float AS actual_usd
            FROM batch_jobs
            WHERE extractor_version = %(version)s AND (%(shard)s::int IS NULL OR shard = %(shard)s)
            """, params).fetchone()
        reconciliation = cur.execute(f"""
            SELECT count(*) FILTER (WHERE r.status = 'done' AND coalesce(n.rows, 0) <> r.concept_count) AS mismatched,
                   count(*) FILTER (WHERE r.status = 'in_flight' AND NOT EXISTS (
                       SELECT 1 FROM batch_jobs j WHERE j.job_id = r.job_id
                         AND (j.state IN ('submitted', 'pending', 'running', 'succeeded')
                              -- being built by a live owner (kb/control.py): not orphaned
                              OR (j.state IN ('building', 'uploaded') AND j.lease_expires_at > now()))))
                     AS orphaned
            FROM passage_requests r
            LEFT JOIN (SELECT passage_id, count(*) AS rows FROM passage_concepts
                       WHERE extractor_version = %(version)s GROUP BY passage_id) n USING (passage_id)
            WHERE {scope}""", params).fetchone()
    return {
        "extractor_version": version, "shard": shard, **concepts, "alignment": alignment,
        **per_passage, "states": states, **responses, **reconciliation,
    }


def type_distribution(conn: psycopg.Connection) -> dict[str, dict[str, int]]:
    """extractor version -> {concept type: rows}: one scan of passage_concepts, for reports."""
    found: dict[str, dict[str, int]] = {}
    for version, ctype, n in conn.execute(
            "SELECT extractor_version, concept_type, count(*) FROM passage_concepts GROUP BY 1, 2"):
        found.setdefault(version, {})[ctype] = n
    return found


def concepts_per_passage(conn: psycopg.Connection, version: str, shard: int | None = None) -> list[int]:
    """Concept counts of the done passages in scope (one small int per passage)."""
    return [n for (n,) in conn.execute(
        """SELECT concept_count FROM passage_requests
           WHERE extractor_version = %s AND status = 'done' AND (%s::int IS NULL OR shard = %s)""",
        (version, shard, shard))]
