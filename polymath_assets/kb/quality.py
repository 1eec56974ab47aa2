"""The numbers behind the QC report and the acceptance gates, for one extractor version:
one shard, the whole corpus, or every shard at once (one pass, grouped by shard).

Set-based SQL over passage_concepts, the ledger and batch_jobs. A shard's numbers read
only that shard's rows: passage_concepts through its stored ``shard`` column and the
``(extractor_version, shard, passage_id)`` index, the ledger through
``(extractor_version, shard, status)``, so a shard's gate costs the same whatever the
size of the other 63.
"""

from __future__ import annotations

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

# Gate 1 counts a concept as evidenced when at least one of its quotes was located in the
# passage by us (exact, normalized or fuzzy, with offsets). A concept without quotes, or
# whose quotes could not be found, is not evidence, whatever else its row carries.
LOCATED_QUOTE = (
    "c.evidence @? '$.support[*] ? ((@.alignment == \"exact\" || @.alignment == \"normalized\""
    " || @.alignment == \"fuzzy\") && @.start.type() == \"number\")'"
)


def _scope(alias: str, shard: int | None) -> sql.Composable:
    shard_sql = sql.SQL("") if shard is None else sql.SQL(" AND {}.shard = %(shard)s").format(sql.Identifier(alias))
    return sql.SQL("{}.extractor_version = %(version)s").format(sql.Identifier(alias)) + shard_sql


def _group(alias: str, by_shard: bool) -> sql.Composable:
    return sql.SQL("{}.shard").format(sql.Identifier(alias)) if by_shard else sql.SQL("%(shard)s::int")


def _queries(shard: int | None, by_shard: bool) -> dict[str, sql.Composable]:
    """The metric queries of a scope, each grouped by shard (or one group)."""
    g, scope = (lambda a: _group(a, by_shard)), (lambda a: _scope(a, shard))
    return {
        "concepts": sql.SQL("""
            SELECT {g} AS shard, count(*) AS concepts,
                   count(*) FILTER (WHERE {located}) AS located,
                   count(*) FILTER (WHERE c.evidence->'quality'->>'alignment' IN ('exact', 'normalized', 'fuzzy'))
                     AS aligned,
                   count(*) FILTER (WHERE length(c.concept_name) > 60) AS long_names
            FROM passage_concepts c WHERE {scope} GROUP BY 1""").format(
            g=g("c"), located=sql.SQL(LOCATED_QUOTE), scope=scope("c")),
        "alignment": sql.SQL("""
            SELECT {g} AS shard, coalesce(c.evidence->'quality'->>'alignment', 'none') AS status, count(*) AS n
            FROM passage_concepts c WHERE {scope} GROUP BY 1, 2""").format(g=g("c"), scope=scope("c")),
        "per_passage": sql.SQL("""
            SELECT {g} AS shard, count(*) AS passages_done, avg(concept_count)::float AS mean,
                   percentile_cont(0.1) WITHIN GROUP (ORDER BY concept_count) AS p10,
                   percentile_cont(0.9) WITHIN GROUP (ORDER BY concept_count) AS p90
            FROM passage_requests r WHERE {scope} AND r.status = 'done' GROUP BY 1""").format(
            g=g("r"), scope=scope("r")),
        "states": sql.SQL("""
            SELECT {g} AS shard, r.status, count(*) AS n FROM passage_requests r WHERE {scope}
            GROUP BY 1, 2""").format(g=g("r"), scope=scope("r")),
        # The gates read the answers to extraction requests. A repair's answer to a passage
        # extraction gave up on stands in for extraction's last answer (repair_requests.
        # replaced_*): in the replaced job's group, the repaired request's parse error is
        # taken out and the repair's own outcome counted instead — never added as one more
        # response. It counts once the repair job's outcome is recorded (the passage's
        # ledger row then points at it); a repair job that failed as a whole leaves the
        # extraction answer standing. Costs are every job's, repairs' included.
        "responses": sql.SQL("""
            SELECT shard, sum(lines)::bigint AS lines, sum(parse_errors)::bigint AS parse_errors,
                   sum(request_errors)::bigint AS request_errors, sum(estimated_usd)::float AS estimated_usd,
                   sum(actual_usd)::float AS actual_usd
            FROM (
                SELECT {g} AS shard,
                       coalesce(sum((result_stats->>'lines')::int) {extract}, 0) AS lines,
                       coalesce(sum((result_stats->'outcomes'->>'parse_error')::int) {extract}, 0) AS parse_errors,
                       coalesce(sum((result_stats->'outcomes'->>'request_error')::int) {extract}, 0)
                         + coalesce(sum((result_stats->'outcomes'->>'truncated')::int) {extract}, 0)
                         + coalesce(sum((result_stats->'outcomes'->>'empty')::int) {extract}, 0)
                         + coalesce(sum((result_stats->>'missing_keys')::int) {extract}, 0) AS request_errors,
                       coalesce(sum(estimated_cost_usd) FILTER (WHERE state = 'ingested'), 0) AS estimated_usd,
                       coalesce(sum(actual_cost_usd), 0) AS actual_usd
                FROM batch_jobs j WHERE {scope} GROUP BY 1
                UNION ALL
                SELECT {g} AS shard, 0,
                       count(DISTINCT r.request_key) FILTER (WHERE r.status IN ('failed', 'dead')
                                                             AND r.last_error LIKE 'parse_error:%%')
                         - count(DISTINCT r.request_key) FILTER (WHERE q.replaced_error LIKE 'parse_error:%%'),
                       0, 0, 0
                FROM repair_requests q
                JOIN batch_jobs j ON j.job_id = q.replaced_job_id
                JOIN passage_requests r ON r.extractor_version = q.extractor_version AND r.passage_id = q.passage_id
                JOIN batch_jobs answered ON answered.job_id = r.job_id AND answered.purpose = 'repair'
                WHERE {qscope} AND {scope} AND r.status <> 'in_flight'
                GROUP BY 1) responses
            GROUP BY 1""").format(g=g("j"), scope=scope("j"), qscope=scope("q"),
                                  extract=sql.SQL("FILTER (WHERE j.purpose = 'extract')")),
        # Resume safety: a done passage whose rows differ from the count the ledger recorded
        # (lost or extra rows), or a passage in flight without a live job (lost work).
        "reconciliation": sql.SQL("""
            SELECT {g} AS shard,
                   count(*) FILTER (WHERE r.status = 'done' AND coalesce(n.rows, 0) <> r.concept_count)
                     AS mismatched,
                   count(*) FILTER (WHERE r.status = 'in_flight' AND NOT EXISTS (
                       SELECT 1 FROM batch_jobs j WHERE j.job_id = r.job_id
                         AND (j.state IN ('submitted', 'pending', 'running', 'succeeded')
                              -- being built by a live owner (kb/control.py): not orphaned
                              OR (j.state IN ('building', 'uploaded') AND j.lease_expires_at > now()))))
                     AS orphaned
            FROM passage_requests r
            LEFT JOIN (SELECT c.passage_id, count(*) AS rows FROM passage_concepts c
                       WHERE {cscope} GROUP BY c.passage_id) n USING (passage_id)
            WHERE {scope} GROUP BY 1""").format(g=g("r"), cscope=scope("c"), scope=scope("r")),
    }


def _metric_rows(conn: psycopg.Connection, version: str, shard: int | None, by_shard: bool) -> dict:
    """{shard or None: metrics}. ``by_shard`` groups every query by shard once; otherwise
    the scope (one shard, or the corpus) is one group keyed ``shard``."""
    params = dict(version=version, shard=shard)
    found: dict = {}

    def entry(key) -> dict:
        return found.setdefault(key, _empty(version, key))

    with conn.cursor(row_factory=dict_row) as cur:
        for name, query in _queries(shard, by_shard).items():
            for row in cur.execute(query, params):
                key = row.pop("shard")
                if name in ("alignment", "states"):
                    entry(key)[name][row["status"]] = row["n"]
                else:
                    entry(key).update(row)
    return found


def explain_shard_metrics(conn: psycopg.Connection, version: str, shard: int, analyze: bool = False) -> dict[str, str]:
    """query name -> EXPLAIN text of one shard's gate metrics (``analyze`` runs them)."""
    prefix = sql.SQL("EXPLAIN (ANALYZE, BUFFERS OFF) " if analyze else "EXPLAIN ")
    return {name: "\n".join(line for (line,) in conn.execute(prefix + query, dict(version=version, shard=shard)))
            for name, query in _queries(shard, by_shard=False).items()}


def _empty(version: str, shard: int | None) -> dict:
    return {"extractor_version": version, "shard": shard, "concepts": 0, "located": 0, "aligned": 0,
            "long_names": 0, "alignment": {}, "passages_done": 0, "mean": None, "p10": None, "p90": None,
            "states": {}, "lines": 0, "parse_errors": 0, "request_errors": 0, "estimated_usd": 0.0,
            "actual_usd": 0.0, "mismatched": 0, "orphaned": 0}


def extraction_metrics(conn: psycopg.Connection, version: str, shard: int | None = None) -> dict:
    """The metrics of one shard (``shard``) or of the whole corpus (``None``)."""
    return _metric_rows(conn, version, shard, by_shard=False).get(shard) or _empty(version, shard)


def extraction_metrics_by_shard(conn: psycopg.Connection, version: str) -> dict[int, dict]:
    """shard -> metrics for every shard with any ledger, concept or job row: one grouped
    pass per table, not one query set per shard. Jobs that span shards (the pilot) have
    no shard and are left out here (they count in the corpus metrics)."""
    return {s: m for s, m in _metric_rows(conn, version, None, by_shard=True).items() if s is not None}


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
