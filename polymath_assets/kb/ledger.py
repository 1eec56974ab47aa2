"""The request ledger: every selected passage's extraction state, per extractor version.

States of a ``passage_requests`` row:
  pending    selected, not yet in a batch job
  in_flight  in job ``job_id``
  done       results loaded (``concept_count`` concepts, possibly 0)
  failed     the request itself failed (``last_error``; ``attempts`` counts such failures);
             it will be resubmitted
  dead       failed ``max_attempts`` times; kept with its last error, never resubmitted

A job-level failure (quota, expiry, cancellation) is not the request's failure: its
requests go back to pending with attempts unchanged. Who may write which row, and how
concurrent writers stay out of each other's way, is kb/control.py.

Jobs (``batch_jobs``) move building → uploaded → submitted → pending/running →
succeeded/failed/cancelled/expired → ingested, or building/uploaded → abandoned when a
crash left them without a provider job. All SQL is set-based; nothing here loops over rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from polymath_assets.kb import control

ACTIVE_JOB_STATES = control.PROVIDER_STATES
TERMINAL_FAILED_STATES = ("failed", "cancelled", "expired")


def _shard_filter(shard_count: int) -> sql.Composable:
    # The modulus is a literal so the planner matches the expression index of migrate.py.
    return sql.SQL("p.shard_hash %% {} = %(shard)s").format(sql.Literal(int(shard_count)))


def _key_sql() -> str:
    # Same as extraction.requests.request_key: sha256(fingerprint + "\n" + text)[:32]
    return "left(encode(sha256(convert_to(%(fingerprint)s || E'\\n' || p.passage_text, 'UTF8')), 'hex'), 32)"


def register_pending(conn: psycopg.Connection, *, version: str, shard: int, shard_count: int,
                     fingerprint: str, max_attempts: int) -> int:
    """Add the shard's passages that lack concepts for ``version`` and are not in the
    ledger yet as pending requests; return how many were added.

    Rows still waiting (pending/failed) get the current request key, so a changed prompt
    or model is asked anew."""
    query = sql.SQL("""
        INSERT INTO passage_requests (extractor_version, passage_id, shard, request_key)
        SELECT %(version)s, p.passage_id, %(shard)s, {key}
        FROM passages p
        WHERE {shard_filter}
          AND NOT EXISTS (SELECT 1 FROM passage_requests r
                          WHERE r.extractor_version = %(version)s AND r.passage_id = p.passage_id)
          AND NOT EXISTS (SELECT 1 FROM passage_concepts c
                          WHERE c.extractor_version = %(version)s AND c.passage_id = p.passage_id)
        ON CONFLICT DO NOTHING
    """).format(key=sql.SQL(_key_sql()), shard_filter=_shard_filter(shard_count))
    params = dict(version=version, shard=shard, fingerprint=fingerprint, max_attempts=max_attempts)
    added = conn.execute(query, params).rowcount
    conn.execute(sql.SQL("""
        UPDATE passage_requests r SET request_key = {key}, updated_at = now()
        FROM passages p
        WHERE r.passage_id = p.passage_id AND r.extractor_version = %(version)s AND r.shard = %(shard)s
          AND {waiting} AND r.request_key <> {key}
    """).format(key=sql.SQL(_key_sql()), waiting=control.waiting("r")), params)
    return added


def next_pilot_selection(conn: psycopg.Connection, version: str) -> str:
    """The tag of a new pilot's sample: pilot-1, pilot-2, ..."""
    n = conn.execute("""SELECT count(DISTINCT selection) FROM passage_requests
                        WHERE extractor_version = %s AND selection LIKE 'pilot-%%'""", (version,)).fetchone()[0]
    return f"pilot-{n + 1}"


def register_pilot(conn: psycopg.Connection, *, version: str, size: int, shard_count: int,
                   fingerprint: str, selection: str, seed: str = "pilot", among: list[str] | None = None) -> int:
    """Register a deterministic pseudo-random sample of ``size`` passages, across all
    shards (or of the passage ids ``among``), that lack concepts for ``version`` and are
    not in the ledger yet, tagged with ``selection`` so the pilot touches only them."""
    return conn.execute(sql.SQL("""
        INSERT INTO passage_requests (extractor_version, passage_id, shard, request_key, selection)
        SELECT %(version)s, p.passage_id, p.shard_hash %% {n}, {key}, %(selection)s
        FROM passages p
        WHERE (%(among)s::uuid[] IS NULL OR p.passage_id = ANY(%(among)s::uuid[]))
          AND NOT EXISTS (SELECT 1 FROM passage_requests r
                          WHERE r.extractor_version = %(version)s AND r.passage_id = p.passage_id)
          AND NOT EXISTS (SELECT 1 FROM passage_concepts c
                          WHERE c.extractor_version = %(version)s AND c.passage_id = p.passage_id)
        ORDER BY md5(p.passage_id::text || %(seed)s)
        LIMIT {size}
        ON CONFLICT DO NOTHING
    """).format(n=sql.Literal(int(shard_count)), key=sql.SQL(_key_sql()), size=sql.Literal(int(size))),
        dict(version=version, fingerprint=fingerprint, seed=seed, selection=selection, among=among)).rowcount


def unselected_count(conn: psycopg.Connection, version: str) -> int:
    """Passages lacking concepts for ``version`` that are not in the ledger yet."""
    return conn.execute(
        """SELECT count(*) FROM passages p
           WHERE NOT EXISTS (SELECT 1 FROM passage_requests r
                             WHERE r.extractor_version = %(v)s AND r.passage_id = p.passage_id)
             AND NOT EXISTS (SELECT 1 FROM passage_concepts c
                             WHERE c.extractor_version = %(v)s AND c.passage_id = p.passage_id)""",
        {"v": version}).fetchone()[0]


def display_name(version: str, shard: int | None, job_id: int, purpose: str = "extract") -> str:
    """Unique per job: how a job created just before a crash is found again at the provider."""
    scope = f"shard-{shard:03d}" if shard is not None else ("all" if purpose == "repair" else "pilot")
    return f"polymath-{version}-{'repair-' if purpose == 'repair' else ''}{scope}-job-{job_id}"


def job_requests(conn: psycopg.Connection, job_id: int) -> Iterator[tuple[str, str]]:
    """(request key, passage text) for a job, one line per distinct key, streamed."""
    with conn.cursor(name=f"job_requests_{job_id}") as cur:
        cur.itersize = 2000
        cur.execute(
            """SELECT DISTINCT ON (r.request_key) r.request_key, p.passage_text
               FROM passage_requests r JOIN passages p USING (passage_id)
               WHERE r.job_id = %s AND r.status = 'in_flight' ORDER BY r.request_key""",
            (job_id,),
        )
        yield from cur


def job_passages(conn: psycopg.Connection, job_id: int) -> dict[str, list[tuple[str, str]]]:
    """request key -> [(passage id, passage text)] for a job's in-flight requests."""
    found: dict[str, list[tuple[str, str]]] = {}
    rows = conn.execute(
        """SELECT r.request_key, r.passage_id::text, p.passage_text
           FROM passage_requests r JOIN passages p USING (passage_id)
           WHERE r.job_id = %s AND r.status = 'in_flight'""",
        (job_id,),
    )
    for key, pid, text in rows:
        found.setdefault(key, []).append((pid, text))
    return found


@dataclass(frozen=True)
class Job:
    job_id: int
    extractor_version: str
    shard: int
    state: str
    job_name: str | None
    display_name: str
    input_path: str | None
    input_file: str | None
    output_file: str | None
    request_count: int
    estimated_cost_usd: float


def jobs(conn: psycopg.Connection, version: str, states: tuple[str, ...], shard: int | None = None,
         selection: str | None = None, job_ids: list[int] | None = None, purpose: str = "extract") -> list[Job]:
    """Jobs of a version in ``states`` (extraction jobs, or the repair lane's); of one
    shard, of those holding a selection's in-flight requests, or of the given ids."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            """SELECT j.job_id, j.extractor_version, j.shard, j.state, j.job_name, j.display_name, j.input_path,
                      j.input_file, j.output_file, j.request_count, j.estimated_cost_usd::float AS estimated_cost_usd
               FROM batch_jobs j
               WHERE j.extractor_version = %(v)s AND j.state = ANY(%(states)s) AND j.purpose = %(purpose)s
                 AND (%(shard)s::int IS NULL OR j.shard = %(shard)s)
                 AND (%(ids)s::bigint[] IS NULL OR j.job_id = ANY(%(ids)s))
                 AND (%(sel)s::text IS NULL OR EXISTS (
                      SELECT 1 FROM passage_requests r WHERE r.job_id = j.job_id AND r.selection = %(sel)s
                        AND r.status = 'in_flight'))
               ORDER BY j.job_id""",
            dict(v=version, states=list(states), shard=shard, sel=selection, ids=job_ids,
                 purpose=purpose)).fetchall()
    return [Job(**row) for row in rows]


def latest_job_owner(conn: psycopg.Connection, version: str, shard: int) -> str | None:
    """Who created the shard's newest extraction job (``host:pid:dagster-<run id>`` for a
    Dagster run), or None."""
    row = conn.execute("""SELECT owner FROM batch_jobs WHERE extractor_version = %s AND shard = %s
                          AND purpose = 'extract' ORDER BY job_id DESC LIMIT 1""", (version, shard)).fetchone()
    return row[0] if row else None


def status_counts(conn: psycopg.Connection, version: str) -> dict[int, dict[str, int]]:
    """shard -> {status: count} for one extractor version."""
    counts: dict[int, dict[str, int]] = {}
    for shard, status, n in conn.execute(
            """SELECT shard, status, count(*) FROM passage_requests WHERE extractor_version = %s
               GROUP BY shard, status""", (version,)):
        counts.setdefault(shard, {})[status] = n
    return counts


def selection_states(conn: psycopg.Connection, version: str, selection: str) -> dict[str, int]:
    """status -> count for one selection (a pilot's sample)."""
    return dict(conn.execute(
        """SELECT status, count(*) FROM passage_requests WHERE extractor_version = %s AND selection = %s
           GROUP BY status""", (version, selection)).fetchall())


def forget_version(conn: psycopg.Connection, version: str, *, concepts: bool) -> dict[str, int]:
    """Delete one extractor version's bookkeeping (and, for a rollback, its concepts);
    other versions are untouched. The spend ledger stays: money spent is never forgotten."""
    deleted = {}
    if concepts:
        deleted["passage_concepts"] = conn.execute(
            "DELETE FROM passage_concepts WHERE extractor_version = %s", (version,)).rowcount
    deleted["repair_requests"] = conn.execute(
        "DELETE FROM repair_requests WHERE extractor_version = %s", (version,)).rowcount
    deleted["passage_requests"] = conn.execute(
        "DELETE FROM passage_requests WHERE extractor_version = %s", (version,)).rowcount
    deleted["batch_jobs"] = conn.execute(
        "DELETE FROM batch_jobs WHERE extractor_version = %s", (version,)).rowcount
    deleted["kb_migrations"] = conn.execute(
        "DELETE FROM kb_migrations WHERE job_name LIKE %s", (checkpoint_name(version, "%"),)).rowcount
    return deleted


def checkpoint_name(version: str, run: str) -> str:
    """kb_migrations job names: ``gemini_batch:<version>:<run>`` (run = pilot or backfill)."""
    return f"gemini_batch:{version}:{run}"


def save_checkpoint(conn: psycopg.Connection, version: str, run: str, checkpoint: dict,
                    status: str = "running") -> None:
    from psycopg.types.json import Jsonb

    conn.execute(
        """INSERT INTO kb_migrations (job_name, status, checkpoint) VALUES (%s, %s, %s)
           ON CONFLICT (job_name) DO UPDATE SET status = EXCLUDED.status,
               checkpoint = kb_migrations.checkpoint || EXCLUDED.checkpoint, updated_at = now(),
               completed_at = CASE WHEN EXCLUDED.status = 'completed' THEN now() END""",
        (checkpoint_name(version, run), status, Jsonb(checkpoint)))


def checkpoint_value(conn: psycopg.Connection, version: str, run: str, key: str) -> str | None:
    row = conn.execute("SELECT checkpoint->>%s FROM kb_migrations WHERE job_name = %s",
                       (key, checkpoint_name(version, run))).fetchone()
    return row[0] if row else None


def checkpoint_status(conn: psycopg.Connection, version: str, run: str) -> str | None:
    row = conn.execute("SELECT status FROM kb_migrations WHERE job_name = %s",
                       (checkpoint_name(version, run),)).fetchone()
    return row[0] if row else None


def known_versions(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute(
        """SELECT extractor_version FROM passage_concepts GROUP BY 1
           UNION SELECT extractor_version FROM passage_requests GROUP BY 1
           UNION SELECT extractor_version FROM batch_jobs GROUP BY 1""").fetchall()
    return {r[0] for r in rows}


def shards_with_passages(conn: psycopg.Connection, shard_count: int) -> list[int]:
    """The shards that hold at least one passage (index on the stored shard hash)."""
    return [s for (s,) in conn.execute(
        sql.SQL("SELECT DISTINCT shard_hash % {n} FROM passages ORDER BY 1").format(n=sql.Literal(int(shard_count))))]
