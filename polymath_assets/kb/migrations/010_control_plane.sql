-- The extraction control plane (see polymath_assets/kb/control.py for who may write what).

-- Every job row has an owner (host:pid:uuid of a CLI process, or dagster:<run id>) and a
-- lease its owner renews while it builds, uploads and creates the job. Recovery touches
-- only jobs in building/uploaded whose lease has expired.
ALTER TABLE batch_jobs ADD COLUMN IF NOT EXISTS owner text;
ALTER TABLE batch_jobs ADD COLUMN IF NOT EXISTS lease_expires_at timestamptz;
-- Estimated input tokens of the job while it is enqueued (for the enqueued-token cap).
ALTER TABLE batch_jobs ADD COLUMN IF NOT EXISTS enqueued_tokens bigint NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS batch_jobs_lease_idx ON batch_jobs (extractor_version, state, lease_expires_at);

-- Which selection a request belongs to: 'pilot-<n>' for a pilot's sample, NULL for a shard
-- selection. The pilot claims, waits for and reports on its own selection only.
ALTER TABLE passage_requests ADD COLUMN IF NOT EXISTS selection text;
CREATE INDEX IF NOT EXISTS passage_requests_selection_idx ON passage_requests (extractor_version, selection)
    WHERE selection IS NOT NULL;

-- "A request waiting for submission", defined once. attempts counts per-request failures
-- only, so a failed request waits until it has failed max_attempts times.
CREATE OR REPLACE FUNCTION polymath_request_waiting(status text, attempts int, max_attempts int)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT status = 'pending' OR (status = 'failed' AND attempts < max_attempts)
$$;

-- Money. One row per submission: the estimate is reserved at submit (under the budget
-- lock), the actual cost recorded at ingest, the reservation released when the job is
-- abandoned before the provider had it. No foreign key on purpose: --no-resume and
-- rollback delete batch_jobs, never what was spent.
CREATE TABLE IF NOT EXISTS spend_ledger (
    entry_id          bigserial PRIMARY KEY,
    extractor_version text NOT NULL,
    job_id            bigint NOT NULL,
    shard             int,
    state             text NOT NULL DEFAULT 'reserved' CHECK (state IN ('reserved', 'actual', 'released')),
    requests          int NOT NULL DEFAULT 0,
    estimated_tokens  bigint NOT NULL DEFAULT 0,
    estimated_usd     numeric(12, 6) NOT NULL DEFAULT 0,
    actual_usd        numeric(12, 6),
    prompt_tokens     bigint,
    output_tokens     bigint,
    note              text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
-- job ids restart after a rollback of the whole schema only; within one database they are
-- unique, so one entry per job.
CREATE UNIQUE INDEX IF NOT EXISTS spend_ledger_job_idx ON spend_ledger (job_id);
CREATE INDEX IF NOT EXISTS spend_ledger_version_idx ON spend_ledger (extractor_version, shard);
