"""The extraction control plane: who may write which ledger row, when.

Several writers share one database: CLI processes (``polymath backfill``/``pilot``, each
possibly started twice), Dagster runs (``gemini_batch_jobs`` partitions, several at once)
and the batch-completion sensor. The rules below make any interleaving of them, and a
SIGKILL of any of them at any moment, safe: no request is paid twice, no job is stolen
from a live owner, no money is spent past the cap.

Owners and leases
  Every ``batch_jobs`` row has an ``owner`` (``host:pid:uuid`` of the process; Dagster
  runs use ``host:pid:dagster-<run id>``) and a ``lease_expires_at``. While a job is
  ``building`` or ``uploaded`` only its owner may change it, and the owner renews the
  lease (a heartbeat thread on its own connection) while it writes the request file,
  uploads it and creates the provider job.

Recovery (settling jobs a crash left in building/uploaded)
  touches a job only after taking it over with one guarded UPDATE, which succeeds only
  when the lease has expired or the owner is a process on this host that no longer
  exists. A live owner's job is never touched, however long it takes.

Guarded transitions
  Every state change is ``UPDATE … WHERE job_id = … AND state = <expected>`` (and
  ``AND owner = <me>`` while building/uploaded). A lost race updates no row and is a
  no-op for the loser, never an overwrite. After ``submitted`` the provider holds the
  job: anyone may poll it (the update is guarded by the state it read), and exactly one
  process ingests it: ingest locks the job row ``FOR UPDATE SKIP LOCKED`` and loads
  results, outcomes and the state change in that one transaction.

Claims
  One submitter per scope (a shard, or a pilot's sample) at a time: a session advisory
  lock per (version, scope), which PostgreSQL frees when the process dies. Inside it,
  requests move to ``in_flight`` with ``FOR UPDATE SKIP LOCKED``, so even overlapping
  scopes never claim one request twice.

The submission gate (money and quota)
  Creating a job row, claiming its requests, checking the enqueued-token cap and the
  budget cap, and reserving the estimated cost in ``spend_ledger`` happen in ONE
  transaction under one advisory lock per database: two submitters cannot both pass a
  cap that fits one. Claims stop where the token cap is reached (the rest is
  "deferred" and waits for jobs to finish). The spend ledger is never deleted by
  ``--no-resume`` or ``rollback``: reserved at submit, released when a job is abandoned
  before the provider had it, replaced by the actual cost at ingest (0 for a job that
  failed, expired or was cancelled).

Attempts
  ``attempts`` counts per-request failures only. A job-level failure (FAILED for quota,
  EXPIRED, CANCELLED, never created) returns its requests to pending unchanged.

"A request waiting for submission" is the SQL function ``polymath_request_waiting``
(migration 010); every query that means it calls it through ``waiting()``.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql

BUILDING_STATES = ("building", "uploaded")
PROVIDER_STATES = ("submitted", "pending", "running")
ENQUEUED_STATES = BUILDING_STATES + PROVIDER_STATES  # count against the enqueued-token cap
GATE_LOCK = 0x706F6C7967617465  # "polygate": the submission gate, one per database
_SCOPE_LOCK_SPACE = "polymath:submit:"

_process_owner: str | None = None


def process_owner() -> str:
    """This process's identity as a job owner: host:pid:uuid (unique even after pid reuse)."""
    global _process_owner
    if _process_owner is None or _process_owner.split(":")[1] != str(os.getpid()):
        _process_owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
    return _process_owner


def run_owner(run_id: str) -> str:
    """The owner name of a Dagster run: its process, tagged with the run id."""
    return f"{socket.gethostname()}:{os.getpid()}:dagster-{run_id}"


def owner_is_gone(owner: str | None) -> bool:
    """True only when the owner is a process of this host that no longer exists (its
    leases need not be waited out). Unknown hosts and reused pids count as alive."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    import psutil

    try:
        return psutil.Process(int(pid)).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


def waiting(alias: str = "r", *, max_attempts: str = "%(max_attempts)s") -> sql.Composable:
    """The one definition of "waiting for submission", as a SQL condition on ``alias``."""
    return sql.SQL("polymath_request_waiting({a}.status, {a}.attempts, {m})").format(
        a=sql.Identifier(alias), m=sql.SQL(max_attempts))


# --- scope locks ------------------------------------------------------------------------

def _scope_key(version: str, scope: str) -> tuple[str, str]:
    return _SCOPE_LOCK_SPACE + version, scope


def try_lock_scope(conn: psycopg.Connection, version: str, scope: str) -> bool:
    """Take the session advisory lock of one submission scope, without waiting."""
    space, key = _scope_key(version, scope)
    return conn.execute("SELECT pg_try_advisory_lock(hashtext(%s), hashtext(%s))", (space, key)).fetchone()[0]


def unlock_scope(conn: psycopg.Connection, version: str, scope: str) -> None:
    space, key = _scope_key(version, scope)
    conn.execute("SELECT pg_advisory_unlock(hashtext(%s), hashtext(%s))", (space, key))


def wait_lock_scope(conn: psycopg.Connection, version: str, scope: str) -> bool:
    """Take the session advisory lock of one submission scope, waiting for its holder."""
    space, key = _scope_key(version, scope)
    conn.execute("SELECT pg_advisory_lock(hashtext(%s), hashtext(%s))", (space, key))
    return True


@contextmanager
def scope_lock(conn: psycopg.Connection, version: str, scope: str, wait: bool = False) -> Iterator[bool]:
    """Yield whether this process is the scope's submitter (``wait``: once the current
    one is done); the lock is autocommitted state of the session, so it survives the
    commits inside and dies with the process."""
    held = (wait_lock_scope if wait else try_lock_scope)(conn, version, scope)
    conn.commit()
    try:
        yield held
    finally:
        if held:
            if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                conn.rollback()
            unlock_scope(conn, version, scope)
            conn.commit()


def lock_gate(conn: psycopg.Connection) -> None:
    """The submission gate, held until the current transaction ends."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (GATE_LOCK,))


def lock_selection(conn: psycopg.Connection, version: str) -> None:
    """Serialise pilot selections of one version (until the transaction ends)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("polymath:select:" + version,))


# --- jobs: creation, leases, guarded transitions --------------------------------------------

def create_job(conn: psycopg.Connection, *, version: str, shard: int | None, provider: str, model: str,
               owner: str, lease_s: int, purpose: str = "extract") -> int:
    """A new job row in ``building``, owned by ``owner`` with a fresh lease. ``purpose``:
    extraction requests, or the repair lane's (operations/repair.py)."""
    from polymath_assets.kb.ledger import display_name

    job_id = conn.execute(
        """INSERT INTO batch_jobs (extractor_version, shard, provider, model, display_name, owner, lease_expires_at,
                                   purpose)
           VALUES (%s, %s, %s, %s, '', %s, now() + make_interval(secs => %s), %s) RETURNING job_id""",
        (version, shard, provider, model, owner, lease_s, purpose)).fetchone()[0]
    conn.execute("UPDATE batch_jobs SET display_name = %s WHERE job_id = %s",
                 (display_name(version, shard, job_id, purpose), job_id))
    return job_id


def renew_lease(conn: psycopg.Connection, job_id: int, owner: str, lease_s: int) -> bool:
    """Extend the lease of a job this owner still holds (building/uploaded); False if lost."""
    return conn.execute(
        """UPDATE batch_jobs SET lease_expires_at = now() + make_interval(secs => %s)
           WHERE job_id = %s AND owner = %s AND state IN ('building', 'uploaded')""",
        (lease_s, job_id, owner)).rowcount == 1


_JOB_FIELDS = {"job_name", "state", "input_path", "input_file", "output_file", "request_count", "succeeded_count",
               "failed_count", "prompt_tokens", "output_tokens", "estimated_cost_usd", "actual_cost_usd", "error",
               "result_stats", "submitted_at", "finished_at", "ingested_at", "enqueued_tokens"}


def transition(conn: psycopg.Connection, job_id: int, *, expected: str | tuple[str, ...],
               owner: str | None = None, **fields) -> bool:
    """Guarded update of one job: applies only if the job is still in ``expected`` (and,
    when given, still owned by ``owner``). Returns whether it applied; a lost race is a
    no-op, never an overwrite."""
    unknown = set(fields) - _JOB_FIELDS
    if unknown:
        raise ValueError(f"not batch_jobs columns: {sorted(unknown)}")
    expected = (expected,) if isinstance(expected, str) else expected
    assignments = sql.SQL(", ").join(
        [sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in fields]
        + [sql.SQL("updated_at = now()")])
    owner_guard = sql.SQL("AND owner = %(guard_owner)s") if owner is not None else sql.SQL("")
    return conn.execute(
        sql.SQL("UPDATE batch_jobs SET {} WHERE job_id = %(guard_job)s AND state = ANY(%(guard_states)s) {}")
        .format(assignments, owner_guard),
        {**fields, "guard_job": job_id, "guard_states": list(expected), "guard_owner": owner}).rowcount == 1


def hold_for_ingest(conn: psycopg.Connection, job_id: int) -> str | None:
    """Lock a succeeded job's row for this transaction and return its output file; None if
    another process holds it (ingesting now) or it is no longer succeeded (ingested)."""
    row = conn.execute("""SELECT output_file FROM batch_jobs WHERE job_id = %s AND state = 'succeeded'
                          FOR UPDATE SKIP LOCKED""", (job_id,)).fetchone()
    return row[0] if row else None


def take_over_stale(conn: psycopg.Connection, version: str, owner: str, lease_s: int,
                    purpose: str = "extract") -> list[int]:
    """Take over building/uploaded jobs (of one purpose) whose lease expired or whose owner
    process is gone; return their ids. Each takeover is one guarded UPDATE (on the old
    owner and state), so two recoverers never both get a job and a live owner never loses one."""
    rows = conn.execute(
        """SELECT job_id, owner, state, lease_expires_at IS NULL OR lease_expires_at <= now()
           FROM batch_jobs WHERE extractor_version = %s AND state IN ('building', 'uploaded') AND purpose = %s
           ORDER BY job_id""", (version, purpose)).fetchall()
    taken = []
    for job_id, old_owner, state, expired in rows:
        # our own job only once we gave it up (expire_lease): while we work on it, it is renewed
        if not (expired or (old_owner != owner and owner_is_gone(old_owner))):
            continue
        if conn.execute(
                """UPDATE batch_jobs SET owner = %s, lease_expires_at = now() + make_interval(secs => %s),
                          updated_at = now()
                   WHERE job_id = %s AND state = %s AND owner IS NOT DISTINCT FROM %s""",
                (owner, lease_s, job_id, state, old_owner)).rowcount:
            taken.append(job_id)
    conn.commit()
    return taken


def expire_lease(conn: psycopg.Connection, job_id: int, owner: str) -> None:
    """The owner stopped working on a job it was building (an error, an interrupt): let
    recovery settle it at once instead of after the lease."""
    conn.execute("""UPDATE batch_jobs SET lease_expires_at = now() WHERE job_id = %s AND owner = %s
                    AND state IN ('building', 'uploaded')""", (job_id, owner))


@contextmanager
def heartbeat(conn: psycopg.Connection, job_id: int, owner: str, lease_s: int) -> Iterator[threading.Event]:
    """Renew a job's lease every third of its length on a connection of its own (the
    caller's connection may be inside a transaction) while the body runs. The yielded
    event is set if the lease was lost: the body must then not create the provider job."""
    lost = threading.Event()
    stop = threading.Event()
    params = {"connect_timeout": "10", **conn.info.get_parameters()}
    if conn.info.password:
        params["password"] = conn.info.password

    def beat() -> None:
        try:
            with psycopg.connect(**params, autocommit=True) as own:
                while not stop.wait(max(lease_s / 3, 0.2)):
                    if not renew_lease(own, job_id, owner, lease_s):
                        lost.set()
                        return
        except psycopg.Error:
            lost.set()  # cannot renew: treat the lease as lost rather than create unguarded

    thread = threading.Thread(target=beat, name=f"lease-job-{job_id}", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        stop.set()
        thread.join(timeout=5)


# --- claims and the submission gate ------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    candidates: int      # waiting requests of the scope this submitter saw
    claimed: int         # moved into the job
    prompt_chars: int    # characters of the claimed requests' rendered prompts
    distinct_keys: int   # lines the request file will have


def enqueued_tokens(conn: psycopg.Connection) -> int:
    """Estimated input tokens in jobs that are being built or are at the provider unfinished
    (all versions: the provider's quota is per project and model)."""
    return conn.execute("SELECT coalesce(sum(enqueued_tokens), 0)::bigint FROM batch_jobs WHERE state = ANY(%s)",
                        (list(ENQUEUED_STATES),)).fetchone()[0]


def claim(conn: psycopg.Connection, *, version: str, shard: int | None, selection: str | None, job_id: int,
          max_attempts: int, retry_failed: bool, fixed_chars: int, room_chars: int | None) -> Claim:
    """Move the scope's waiting requests into ``job_id``, in passage order, as many as fit in
    ``room_chars`` prompt characters (None: all). Rows another transaction holds are
    skipped, never claimed twice."""
    params = dict(version=version, shard=shard, selection=selection, job=job_id, max_attempts=max_attempts,
                  retry=retry_failed, fixed=fixed_chars, room=room_chars)
    row = conn.execute(sql.SQL("""
        WITH locked AS (
            SELECT r.passage_id, r.request_key, %(fixed)s + length(p.passage_text) AS chars
            FROM passage_requests r JOIN passages p USING (passage_id)
            WHERE r.extractor_version = %(version)s AND (%(shard)s::int IS NULL OR r.shard = %(shard)s)
              AND (%(selection)s::text IS NULL OR r.selection = %(selection)s)
              AND {waiting} AND (%(retry)s OR r.status = 'pending')
            ORDER BY r.passage_id
            FOR UPDATE OF r SKIP LOCKED),
        running AS (
            SELECT passage_id, request_key, chars, sum(chars) OVER (ORDER BY passage_id) AS upto FROM locked),
        claimed AS (
            UPDATE passage_requests r SET status = 'in_flight', job_id = %(job)s, updated_at = now()
            FROM running c
            WHERE r.extractor_version = %(version)s AND r.passage_id = c.passage_id
              AND (%(room)s::bigint IS NULL OR c.upto <= %(room)s::bigint)
            RETURNING c.chars, c.request_key)
        SELECT (SELECT count(*) FROM locked), count(*), coalesce(sum(chars), 0)::bigint,
               count(DISTINCT request_key)
        FROM claimed""").format(waiting=waiting("r")), params).fetchone()
    return Claim(*row)


def release_requests(conn: psycopg.Connection, job_id: int, note: str | None = None) -> int:
    """A job-level failure or an abandoned job: its in-flight requests go back to pending,
    attempts unchanged (the request itself did not fail)."""
    return conn.execute(
        """UPDATE passage_requests SET status = 'pending', job_id = NULL, updated_at = now(),
                  last_error = coalesce(%s, last_error)
           WHERE job_id = %s AND status = 'in_flight'""", (note, job_id)).rowcount


def scope_remaining(conn: psycopg.Connection, *, version: str, selection: str | None, max_attempts: int,
                    retry_failed: bool) -> int:
    """Requests of the scope (a pilot's selection, or the whole version) still waiting or in flight."""
    return conn.execute(sql.SQL("""
        SELECT count(*) FROM passage_requests r
        WHERE r.extractor_version = %(version)s AND (%(selection)s::text IS NULL OR r.selection = %(selection)s)
          AND (r.status = 'in_flight' OR (({waiting}) AND (%(retry)s OR r.status = 'pending')))""")
        .format(waiting=waiting("r")),
        dict(version=version, selection=selection, max_attempts=max_attempts, retry=retry_failed)).fetchone()[0]


def waiting_shards(conn: psycopg.Connection, *, version: str, selection: str | None, max_attempts: int,
                   retry_failed: bool) -> list[int]:
    return [s for (s,) in conn.execute(sql.SQL("""
        SELECT DISTINCT r.shard FROM passage_requests r
        WHERE r.extractor_version = %(version)s AND (%(selection)s::text IS NULL OR r.selection = %(selection)s)
          AND {waiting} AND (%(retry)s OR r.status = 'pending') ORDER BY 1""").format(waiting=waiting("r")),
        dict(version=version, selection=selection, max_attempts=max_attempts, retry=retry_failed))]


def waiting_totals(conn: psycopg.Connection, *, version: str, shard: int | None, selection: str | None,
                   max_attempts: int) -> tuple[int, int]:
    """(distinct request keys, passage characters) of the requests waiting in a scope."""
    return conn.execute(sql.SQL("""
        SELECT count(DISTINCT r.request_key), coalesce(sum(length(p.passage_text)), 0)::bigint
        FROM passage_requests r JOIN passages p USING (passage_id)
        WHERE r.extractor_version = %(version)s AND (%(shard)s::int IS NULL OR r.shard = %(shard)s)
          AND (%(selection)s::text IS NULL OR r.selection = %(selection)s) AND {waiting}""")
        .format(waiting=waiting("r")),
        dict(version=version, shard=shard, selection=selection, max_attempts=max_attempts)).fetchone()


def pending_corpus_totals(conn: psycopg.Connection, *, version: str, max_attempts: int) -> tuple[int, int]:
    """(passages, passage characters) not extracted yet for ``version``: requests waiting
    in the ledger, and passages lacking concepts that are not in the ledger at all."""
    return conn.execute(sql.SQL("""
        SELECT count(*), coalesce(sum(length(p.passage_text)), 0)::bigint
        FROM passages p
        WHERE EXISTS (SELECT 1 FROM passage_requests r WHERE r.extractor_version = %(version)s
                        AND r.passage_id = p.passage_id AND {waiting})
           OR (NOT EXISTS (SELECT 1 FROM passage_requests r WHERE r.extractor_version = %(version)s
                             AND r.passage_id = p.passage_id)
               AND NOT EXISTS (SELECT 1 FROM passage_concepts c WHERE c.extractor_version = %(version)s
                                 AND c.passage_id = p.passage_id))""").format(waiting=waiting("r")),
        dict(version=version, max_attempts=max_attempts)).fetchone()


def waiting_sample(conn: psycopg.Connection, *, version: str, max_attempts: int, limit: int) -> list[str]:
    """Passage texts of a few waiting requests (for token calibration)."""
    return [t for (t,) in conn.execute(sql.SQL("""
        SELECT p.passage_text FROM passage_requests r JOIN passages p USING (passage_id)
        WHERE r.extractor_version = %(version)s AND {waiting}
        ORDER BY r.request_key LIMIT %(limit)s""").format(waiting=waiting("r")),
        dict(version=version, max_attempts=max_attempts, limit=limit))]


def active_scope_job(conn: psycopg.Connection, *, version: str, shard: int | None,
                     selection: str | None) -> int | None:
    """A job of this scope that is being built or is at the provider unfinished."""
    row = conn.execute(
        """SELECT j.job_id FROM batch_jobs j
           WHERE j.extractor_version = %(version)s AND j.state = ANY(%(states)s) AND j.purpose = 'extract'
             AND (CASE WHEN %(selection)s::text IS NOT NULL
                       THEN EXISTS (SELECT 1 FROM passage_requests r WHERE r.job_id = j.job_id
                                    AND r.selection = %(selection)s AND r.status = 'in_flight')
                       ELSE j.shard IS NOT DISTINCT FROM %(shard)s END)
           ORDER BY j.job_id LIMIT 1""",
        dict(version=version, states=list(ENQUEUED_STATES), shard=shard, selection=selection)).fetchone()
    return row[0] if row else None


# --- money ---------------------------------------------------------------------------------

def committed_usd(conn: psycopg.Connection, version: str) -> float:
    """Money spent or promised for a version: actual costs, plus the estimates still reserved."""
    return conn.execute(
        """SELECT coalesce(sum(CASE state WHEN 'actual' THEN actual_usd WHEN 'reserved' THEN estimated_usd
                                          ELSE 0 END), 0)::float
           FROM spend_ledger WHERE extractor_version = %s""", (version,)).fetchone()[0]


def reserve(conn: psycopg.Connection, *, version: str, job_id: int, shard: int | None, requests: int,
            estimated_tokens: int, estimated_usd: float) -> None:
    conn.execute(
        """INSERT INTO spend_ledger (extractor_version, job_id, shard, requests, estimated_tokens, estimated_usd)
           VALUES (%s, %s, %s, %s, %s, %s)""",
        (version, job_id, shard, requests, estimated_tokens, estimated_usd))


def release_spend(conn: psycopg.Connection, job_id: int, note: str) -> None:
    """The provider never had the job: nothing will be charged."""
    conn.execute("""UPDATE spend_ledger SET state = 'released', note = %s, updated_at = now()
                    WHERE job_id = %s AND state = 'reserved'""", (note, job_id))


def record_actual(conn: psycopg.Connection, job_id: int, usd: float, prompt_tokens: int, output_tokens: int,
                  note: str | None = None) -> None:
    conn.execute(
        """UPDATE spend_ledger SET state = 'actual', actual_usd = %s, prompt_tokens = %s, output_tokens = %s,
                  note = coalesce(%s, note), updated_at = now()
           WHERE job_id = %s AND state = 'reserved'""", (usd, prompt_tokens, output_tokens, note, job_id))


def spend_totals(conn: psycopg.Connection, version: str) -> dict[str, float]:
    row = conn.execute(
        """SELECT coalesce(sum(estimated_usd) FILTER (WHERE state <> 'released'), 0)::float,
                  coalesce(sum(actual_usd) FILTER (WHERE state = 'actual'), 0)::float,
                  coalesce(sum(estimated_usd) FILTER (WHERE state = 'reserved'), 0)::float
           FROM spend_ledger WHERE extractor_version = %s""", (version,)).fetchone()
    return {"estimated_usd": row[0], "actual_usd": row[1], "reserved_usd": row[2],
            "committed_estimate_usd": row[1] + row[2]}


def spend_by_shard(conn: psycopg.Connection, version: str) -> dict[int | None, dict[str, float]]:
    """shard (None: pilot jobs) -> actual and still-reserved USD."""
    return {shard: {"actual_usd": actual, "reserved_usd": reserved}
            for shard, actual, reserved in conn.execute(
                """SELECT shard, coalesce(sum(actual_usd) FILTER (WHERE state = 'actual'), 0)::float,
                          coalesce(sum(estimated_usd) FILTER (WHERE state = 'reserved'), 0)::float
                   FROM spend_ledger WHERE extractor_version = %s GROUP BY shard""", (version,))}


def output_tokens_per_request(conn: psycopg.Connection, version: str) -> float | None:
    """Mean output tokens per request actually answered so far (the pilot first), or None."""
    row = conn.execute(
        """SELECT sum(output_tokens), sum(requests) FROM spend_ledger
           WHERE extractor_version = %s AND state = 'actual' AND output_tokens > 0""", (version,)).fetchone()
    return row[0] / row[1] if row[0] and row[1] else None


def output_per_input_token(conn: psycopg.Connection, version: str) -> float | None:
    """Output tokens billed per input token so far (answers grow with the passage), or None."""
    row = conn.execute(
        """SELECT sum(output_tokens), sum(prompt_tokens) FROM spend_ledger
           WHERE extractor_version = %s AND state = 'actual' AND output_tokens > 0""", (version,)).fetchone()
    return float(row[0]) / float(row[1]) if row[0] and row[1] else None


def cached_share(conn: psycopg.Connection, version: str) -> float:
    """Share of the input tokens billed so far that the provider served from a context cache."""
    row = conn.execute(
        """SELECT coalesce(sum((result_stats->>'cached_tokens')::bigint), 0), coalesce(sum(prompt_tokens), 0)
           FROM batch_jobs WHERE extractor_version = %s AND state = 'ingested'""", (version,)).fetchone()
    return row[0] / row[1] if row[1] else 0.0


def tokens_for_chars(chars: int, chars_per_token: float) -> int:
    return math.ceil(chars / chars_per_token)
