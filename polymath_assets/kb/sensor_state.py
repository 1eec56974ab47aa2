"""What the batch-completion sensor needs to know about the ledger, per shard, in one
query: requests waiting for a submission, jobs in flight, the latest job, and succeeded
jobs not yet ingested. The sensor derives its launches from this state alone (level
triggered), so a tick that dies after a commit, or a job refreshed by another process,
loses nothing."""

from __future__ import annotations

import psycopg
from psycopg import sql

from polymath_assets.extraction.completion import ShardState
from polymath_assets.kb import control


def shard_states(conn: psycopg.Connection, version: str, max_attempts: int) -> list[ShardState]:
    """One row per shard that has had a shard job (pilot jobs have no shard). Shards never
    submitted are left to the operator's backfill: the sensor only follows up."""
    rows = conn.execute(sql.SQL(
        """WITH jobs AS (
             SELECT shard,
                    count(*) FILTER (WHERE state = ANY(%(in_flight)s)) AS in_flight,
                    max(job_id) AS latest_job,
                    coalesce(array_agg(job_id ORDER BY job_id) FILTER (WHERE state = 'succeeded'), '{{}}') AS succeeded
             FROM batch_jobs WHERE extractor_version = %(version)s AND shard IS NOT NULL AND purpose = 'extract'
             GROUP BY shard),
           waiting AS (
             SELECT shard, count(*) AS n FROM passage_requests
             WHERE extractor_version = %(version)s AND shard = ANY(ARRAY(SELECT shard FROM jobs))
               AND {waiting}
             GROUP BY shard)
           SELECT j.shard, coalesce(w.n, 0), j.in_flight, j.latest_job, j.succeeded
           FROM jobs j LEFT JOIN waiting w USING (shard) ORDER BY j.shard""").format(
            waiting=control.waiting("passage_requests")),
        {"version": version, "in_flight": list(control.ENQUEUED_STATES), "max_attempts": max_attempts}).fetchall()
    return [ShardState(shard, waiting, in_flight, latest, tuple(succeeded))
            for shard, waiting, in_flight, latest, succeeded in rows]
