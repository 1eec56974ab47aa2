"""The repair lane's SQL: which passages need a repair, claiming them into a repair job,
and merging the answers into the same extractor version's rows. Set-based throughout.

Who may write what follows kb/control.py: a repair request moves pending → in_flight
(claimed ``FOR UPDATE SKIP LOCKED`` into a job the claimer owns) → done / failed; the job's
results are merged in the one transaction that holds the job row for ingestion.

A passage is never in two jobs at once. A request extraction still waits to retry
(``polymath_request_waiting``) is extraction's, never a repair's: only a passage extraction
gave up on (dead, or failed with no attempts left) is registered as ``failed``. The claim
locks the passage_requests row with the repair request and takes it only while it still
qualifies — ``failed``/``dead`` and not waiting (it then moves into the repair job, so
extraction cannot take it meanwhile), or ``done`` for ``unlocated`` items; a repair request
whose passage no longer qualifies is settled as done, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from polymath_assets.kb.control import Claim, waiting
from polymath_assets.kb.quality import LOCATED_QUOTE

# A failed repair request's passage: given up on by extraction (its own retries are spent).
_GIVEN_UP = sql.SQL("r.status IN ('failed', 'dead') AND NOT {waiting}").format(
    waiting=waiting("r", max_attempts="%(request_max)s"))


def register(conn: psycopg.Connection, *, version: str, shard: int | None, max_attempts: int,
             request_max_attempts: int) -> dict[str, int]:
    """Register the scope's passages that need a repair and have repair rounds left
    (``max_attempts``); a passage already pending or in flight is left alone. A failed
    request counts only once extraction gave up on it (``request_max_attempts``): until
    then extraction retries it itself. Returns how many of each kind."""
    params = dict(version=version, shard=shard, max=max_attempts, request_max=request_max_attempts)
    unlocated = conn.execute(sql.SQL("""
        INSERT INTO repair_requests AS q (extractor_version, passage_id, shard, kind, items)
        SELECT r.extractor_version, r.passage_id, r.shard, 'unlocated',
               jsonb_agg(jsonb_build_object('name', c.concept_name, 'type', c.concept_type,
                                            'text', coalesce(c.evidence->'support'->0->>'quote', c.concept_name))
                         ORDER BY c.concept_name)
        FROM passage_requests r
        JOIN passage_concepts c ON c.passage_id = r.passage_id AND c.extractor_version = r.extractor_version
        WHERE r.extractor_version = %(version)s AND (%(shard)s::int IS NULL OR r.shard = %(shard)s)
          AND r.status = 'done' AND NOT ({located})
        GROUP BY r.extractor_version, r.passage_id, r.shard
        ON CONFLICT (extractor_version, passage_id) DO UPDATE
            SET kind = 'unlocated', items = EXCLUDED.items, status = 'pending', job_id = NULL, updated_at = now()
            WHERE q.status IN ('done', 'failed') AND q.attempts < %(max)s""").format(located=sql.SQL(LOCATED_QUOTE)),
        params).rowcount
    failed = conn.execute(sql.SQL("""
        INSERT INTO repair_requests AS q (extractor_version, passage_id, shard, kind, replaced_job_id, replaced_error)
        SELECT r.extractor_version, r.passage_id, r.shard, 'failed', r.job_id, r.last_error
        FROM passage_requests r
        WHERE r.extractor_version = %(version)s AND (%(shard)s::int IS NULL OR r.shard = %(shard)s) AND {given_up}
        ON CONFLICT (extractor_version, passage_id) DO UPDATE
            SET kind = 'failed', items = '[]'::jsonb, status = 'pending', job_id = NULL, updated_at = now(),
                -- the extraction answer replaced is the first round's: later rounds replace a repair's
                replaced_job_id = coalesce(q.replaced_job_id, EXCLUDED.replaced_job_id),
                replaced_error = coalesce(q.replaced_error, EXCLUDED.replaced_error)
            WHERE q.status IN ('done', 'failed') AND q.attempts < %(max)s""").format(given_up=_GIVEN_UP),
        params).rowcount
    return {"unlocated": unlocated, "failed": failed}


# Whether a repair request's passage still needs it (r: its passage_requests row).
_QUALIFIES = sql.SQL("CASE q.kind WHEN 'failed' THEN {given_up} ELSE r.status = 'done' END").format(
    given_up=_GIVEN_UP)


def settle_stale(conn: psycopg.Connection, *, version: str, shard: int | None, request_max_attempts: int) -> int:
    """Settle the scope's pending repair requests whose passage no longer needs them as
    done, with the reason (extraction took the passage back, or it is done or gone);
    rows another transaction holds are left for the next round. Returns how many."""
    return conn.execute(sql.SQL("""
        WITH stale AS (
            SELECT q.passage_id, coalesce(r.status, 'gone') AS status
            FROM repair_requests q
            LEFT JOIN passage_requests r ON r.extractor_version = q.extractor_version AND r.passage_id = q.passage_id
            WHERE q.extractor_version = %(version)s AND (%(shard)s::int IS NULL OR q.shard = %(shard)s)
              AND q.status = 'pending' AND NOT coalesce({qualifies}, false)
            FOR UPDATE OF q SKIP LOCKED)
        UPDATE repair_requests q SET status = 'done', updated_at = now(),
                                     last_error = 'not repaired: the passage is ' || s.status || ' now'
        FROM stale s WHERE q.extractor_version = %(version)s AND q.passage_id = s.passage_id""")
        .format(qualifies=_QUALIFIES), dict(version=version, shard=shard, request_max=request_max_attempts)).rowcount


def claim(conn: psycopg.Connection, *, version: str, shard: int | None, job_id: int, max_attempts: int,
          request_max_attempts: int, fixed_chars: int, room_chars: int | None) -> Claim:
    """Move the scope's pending repair requests with rounds left whose passage still needs
    them into ``job_id`` (counting the round), in passage order, as many as fit in
    ``room_chars`` prompt characters (None: all), with the passage_requests rows of the
    ``failed`` ones; a request or passage another transaction holds is skipped. The rest
    waits for the next round."""
    params = dict(version=version, shard=shard, job=job_id, max=max_attempts, request_max=request_max_attempts,
                  fixed=fixed_chars, room=room_chars)
    row = conn.execute(sql.SQL("""
        WITH locked AS (
            SELECT q.passage_id, %(fixed)s + length(p.passage_text) + length(q.items::text) AS chars
            FROM repair_requests q
            JOIN passage_requests r ON r.extractor_version = q.extractor_version AND r.passage_id = q.passage_id
            JOIN passages p ON p.passage_id = q.passage_id
            WHERE q.extractor_version = %(version)s AND (%(shard)s::int IS NULL OR q.shard = %(shard)s)
              AND q.status = 'pending' AND q.attempts < %(max)s AND {qualifies}
            ORDER BY q.passage_id
            FOR UPDATE OF q, r SKIP LOCKED),
        running AS (SELECT passage_id, chars, sum(chars) OVER (ORDER BY passage_id) AS upto FROM locked),
        claimed AS (
            UPDATE repair_requests q SET status = 'in_flight', job_id = %(job)s, attempts = q.attempts + 1,
                                         updated_at = now()
            FROM running c
            WHERE q.extractor_version = %(version)s AND q.passage_id = c.passage_id
              AND (%(room)s::bigint IS NULL OR c.upto <= %(room)s::bigint)
            RETURNING q.passage_id, q.kind, c.chars),
        moved AS (
            UPDATE passage_requests r SET status = 'in_flight', job_id = %(job)s, updated_at = now()
            FROM claimed c
            WHERE c.kind = 'failed' AND r.extractor_version = %(version)s AND r.passage_id = c.passage_id)
        SELECT (SELECT count(*) FROM locked), count(*), coalesce(sum(chars), 0)::bigint, count(*)
        FROM claimed""").format(qualifies=_QUALIFIES), params).fetchone()
    return Claim(*row)


def job_requests(conn: psycopg.Connection, job_id: int) -> Iterator[tuple[str, tuple[str, list, str]]]:
    """(key, (kind, items, passage text)) of a repair job's requests; the key is the passage id."""
    for pid, kind, items, text in conn.execute(
            """SELECT q.passage_id::text, q.kind, q.items, p.passage_text
               FROM repair_requests q JOIN passages p USING (passage_id)
               WHERE q.job_id = %s AND q.status = 'in_flight' ORDER BY q.passage_id""", (job_id,)):
        yield pid, (kind, items, text)


def job_targets(conn: psycopg.Connection, job_id: int) -> dict[str, tuple[str, list, str]]:
    return dict(job_requests(conn, job_id))


def merge_unlocated(conn: psycopg.Connection, *, version: str, job_id: int, answered: list[str]) -> int:
    """For the repair requests of ``job_id`` that were answered: the unlocated rows they
    listed give way (repaired rows were loaded beside them; an item the model dropped is
    dropped). A row located meanwhile is never deleted. Returns rows deleted."""
    return conn.execute(sql.SQL("""
        DELETE FROM passage_concepts c
        USING repair_requests q, jsonb_array_elements(q.items) item
        WHERE q.job_id = %(job)s AND q.status = 'in_flight' AND q.kind = 'unlocated'
          AND q.passage_id = ANY(%(answered)s::uuid[])
          AND c.extractor_version = %(version)s AND c.passage_id = q.passage_id
          AND c.concept_name = item->>'name' AND NOT ({located})""").format(located=sql.SQL(LOCATED_QUOTE)),
        dict(job=job_id, answered=answered, version=version)).rowcount


def finish(conn: psycopg.Connection, *, version: str, job_id: int, repaired: dict[str, int],
           errors: dict[str, str]) -> dict[str, int]:
    """Settle a repair job's requests: the answered ones (``repaired``: passage id -> rows
    the answer loaded) done, with concepts_repaired and, for unlocated items, how many were
    dropped (a repaired passage's ledger count follows its rows); the others failed with
    their error. Returns counts by status."""
    answered = list(repaired)
    conn.execute("""
        UPDATE passage_requests r SET concept_count = n.rows, updated_at = now()
        FROM repair_requests q,
             LATERAL (SELECT count(*)::int AS rows FROM passage_concepts c
                      WHERE c.extractor_version = q.extractor_version AND c.passage_id = q.passage_id) n
        WHERE q.job_id = %(job)s AND q.status = 'in_flight' AND q.kind = 'unlocated'
          AND q.passage_id = ANY(%(answered)s::uuid[])
          AND r.extractor_version = q.extractor_version AND r.passage_id = q.passage_id AND r.status = 'done'""",
                 dict(job=job_id, answered=answered))
    rows = conn.execute("""
        WITH n AS (SELECT passage_id, ((%(repaired)s::jsonb)->>(passage_id::text))::int AS repaired
                   FROM repair_requests WHERE job_id = %(job)s AND status = 'in_flight')
        UPDATE repair_requests q
        SET status = CASE WHEN n.repaired IS NULL THEN 'failed' ELSE 'done' END,
            concepts_repaired = n.repaired,
            concepts_dropped = CASE WHEN q.kind = 'unlocated' AND n.repaired IS NOT NULL
                                    THEN greatest(jsonb_array_length(q.items) - n.repaired, 0) END,
            last_error = (%(errors)s::jsonb)->>(q.passage_id::text), updated_at = now()
        FROM n
        WHERE q.job_id = %(job)s AND q.status = 'in_flight' AND q.extractor_version = %(version)s
          AND q.passage_id = n.passage_id
        RETURNING q.status""",
        dict(job=job_id, repaired=Jsonb(repaired), errors=Jsonb(errors), version=version)).fetchall()
    counts: dict[str, int] = {}
    for (status,) in rows:
        counts[status] = counts.get(status, 0) + 1
    return counts


def release(conn: psycopg.Connection, job_id: int, note: str, max_attempts: int) -> int:
    """The repair job failed as a whole or was abandoned: its requests wait for the next
    round (the round is not counted); failed and dead passages it held go back to failed
    or dead (by their attempts), never to pending."""
    conn.execute("""
        UPDATE passage_requests r SET status = CASE WHEN r.attempts >= %s THEN 'dead' ELSE 'failed' END,
                                      job_id = NULL, last_error = %s, updated_at = now()
        WHERE r.job_id = %s AND r.status = 'in_flight'""", (max_attempts, note, job_id))
    return conn.execute("""
        UPDATE repair_requests SET status = 'pending', job_id = NULL, attempts = greatest(attempts - 1, 0),
                                   last_error = %s, updated_at = now()
        WHERE job_id = %s AND status = 'in_flight'""", (note, job_id)).rowcount
