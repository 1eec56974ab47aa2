-- Batch bookkeeping: one row per provider batch job, one row per passage request.
CREATE TABLE IF NOT EXISTS batch_jobs (
    job_id            bigserial PRIMARY KEY,
    extractor_version text NOT NULL,
    shard             int,                      -- NULL: a job that spans shards (the pilot)
    provider          text NOT NULL,            -- 'gemini' or 'gemini-emulator'
    model             text NOT NULL,
    job_name          text UNIQUE,              -- provider name, recorded before anything else can fail
    display_name      text NOT NULL,
    input_path        text,                     -- local request JSONL
    input_file        text,                     -- provider file name after upload
    output_file       text,
    state             text NOT NULL DEFAULT 'building'
        CHECK (state IN ('building', 'uploaded', 'submitted', 'pending', 'running',
                         'succeeded', 'failed', 'cancelled', 'expired', 'ingested', 'abandoned')),
    request_count     int NOT NULL DEFAULT 0,
    succeeded_count   int NOT NULL DEFAULT 0,
    failed_count      int NOT NULL DEFAULT 0,
    prompt_tokens     bigint NOT NULL DEFAULT 0,
    output_tokens     bigint NOT NULL DEFAULT 0,
    estimated_cost_usd numeric(12, 6) NOT NULL DEFAULT 0,
    actual_cost_usd   numeric(12, 6),
    error             text,
    result_stats      jsonb,                    -- parse outcomes, rejections, alignment: for the QC gates
    created_at        timestamptz NOT NULL DEFAULT now(),
    submitted_at      timestamptz,
    finished_at       timestamptz,
    ingested_at       timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS batch_jobs_version_state_idx ON batch_jobs (extractor_version, state);

-- The one place where a passage's extraction state lives, per extractor version.
CREATE TABLE IF NOT EXISTS passage_requests (
    extractor_version text NOT NULL,
    passage_id        uuid NOT NULL REFERENCES passages (passage_id),
    shard             int NOT NULL,
    request_key       text NOT NULL,            -- content hash: passage text + prompt + schema + model
    job_id            bigint REFERENCES batch_jobs (job_id),
    status            text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'in_flight', 'done', 'failed', 'dead')),
    attempts          int NOT NULL DEFAULT 0,
    last_error        text,
    concept_count     int,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (extractor_version, passage_id)
);
CREATE INDEX IF NOT EXISTS passage_requests_status_idx ON passage_requests (extractor_version, shard, status);
CREATE INDEX IF NOT EXISTS passage_requests_job_idx ON passage_requests (job_id);

-- Checkpoints in the shape of the group's kb_migrations habit (job_name first).
CREATE TABLE IF NOT EXISTS kb_migrations (
    job_name     text PRIMARY KEY,
    status       text NOT NULL DEFAULT 'running',
    checkpoint   jsonb NOT NULL DEFAULT '{}'::jsonb,
    started_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
);
ALTER TABLE kb_migrations ADD COLUMN IF NOT EXISTS checkpoint jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE kb_migrations ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
