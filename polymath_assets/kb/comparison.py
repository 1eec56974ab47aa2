"""The pilot comparison's SQL: the sample a comparison takes (registered under each side's
extractor version, one per prompt version, by ``ledger.register_pilot``), and each side's
numbers read for that sample only."""

from __future__ import annotations

import psycopg
from psycopg import sql

from polymath_assets.kb.quality import LOCATED_QUOTE

# The extractor versions of ``version``'s comparisons, "<version>@<prompt version>": a
# prefix comparison (a LIKE pattern would read the "_" of gemini_batch_v1 as any character).
_COMPARED = "starts_with(r.extractor_version, %(v)s || '@')"


def next_selection(conn: psycopg.Connection, version: str) -> str:
    """compare-1, compare-2, ... over every comparison of ``version``."""
    n = conn.execute(f"""SELECT count(DISTINCT r.selection) FROM passage_requests r
                         WHERE {_COMPARED} AND r.selection LIKE 'compare-%%'""", dict(v=version)).fetchone()[0]
    return f"compare-{n + 1}"


def sample(conn: psycopg.Connection, *, version: str, size: int, seed: str) -> list[str]:
    """A deterministic pseudo-random sample of passages lacking ``version``'s concepts that
    no earlier comparison of it took."""
    return [pid for (pid,) in conn.execute(
        f"""SELECT p.passage_id::text FROM passages p
            WHERE NOT EXISTS (SELECT 1 FROM passage_concepts c
                              WHERE c.extractor_version = %(v)s AND c.passage_id = p.passage_id)
              AND NOT EXISTS (SELECT 1 FROM passage_requests r WHERE {_COMPARED} AND r.passage_id = p.passage_id)
            ORDER BY md5(p.passage_id::text || %(seed)s) LIMIT %(size)s""",
        dict(v=version, seed=seed, size=size))]


def concepts(conn: psycopg.Connection, version: str, selection: str) -> list[tuple[str, str, str]]:
    """(passage id, concept name, type) of the sample's rows."""
    return conn.execute(
        """SELECT c.passage_id::text, c.concept_name, c.concept_type FROM passage_concepts c
           JOIN passage_requests r ON r.passage_id = c.passage_id AND r.extractor_version = c.extractor_version
           WHERE c.extractor_version = %s AND r.selection = %s""", (version, selection)).fetchall()


def summary(conn: psycopg.Connection, version: str, selection: str) -> dict:
    """Done passages, concepts, located ones, alignment kinds and types of the sample."""
    scope = """FROM passage_concepts c JOIN passage_requests r
                 ON r.passage_id = c.passage_id AND r.extractor_version = c.extractor_version
               WHERE c.extractor_version = %(v)s AND r.selection = %(s)s"""
    params = dict(v=version, s=selection)
    done = conn.execute("""SELECT count(*) FROM passage_requests WHERE extractor_version = %(v)s
                           AND selection = %(s)s AND status = 'done'""", params).fetchone()[0]
    total, located = conn.execute(sql.SQL("SELECT count(*), count(*) FILTER (WHERE {located}) " + scope)
                                  .format(located=sql.SQL(LOCATED_QUOTE)), params).fetchone()
    alignment = dict(conn.execute("SELECT c.evidence->'quality'->>'alignment', count(*) " + scope + " GROUP BY 1",
                                  params).fetchall())
    types = dict(conn.execute("SELECT c.concept_type, count(*) " + scope + " GROUP BY 1", params).fetchall())
    return {"done": done, "concepts": total, "located": located, "alignment": alignment, "types": types}


def usage(conn: psycopg.Connection, version: str, selection: str) -> tuple[int, int, int, int]:
    """(requests, input, output, cached tokens) billed by the jobs that answered the sample."""
    return conn.execute(
        """SELECT coalesce(sum(j.request_count), 0)::int, coalesce(sum(j.prompt_tokens), 0)::bigint,
                  coalesce(sum(j.output_tokens), 0)::bigint,
                  coalesce(sum((j.result_stats->>'cached_tokens')::bigint), 0)::bigint
           FROM batch_jobs j
           WHERE j.extractor_version = %s AND j.state = 'ingested' AND EXISTS (
                 SELECT 1 FROM passage_requests r WHERE r.job_id = j.job_id AND r.selection = %s)""",
        (version, selection)).fetchone()
