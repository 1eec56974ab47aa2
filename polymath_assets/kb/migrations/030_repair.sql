-- The repair lane (polymath repair): a bounded round for what came back wrong, instead
-- of re-extracting whole shards.
-- Repair jobs are batch jobs like any other (owner, lease, guarded transitions, spend
-- ledger) but answer repair requests, not extraction requests: extraction's queries
-- (the sensor, submission scopes, ingestion) read purpose = 'extract' only.
ALTER TABLE batch_jobs ADD COLUMN IF NOT EXISTS purpose text NOT NULL DEFAULT 'extract'
    CHECK (purpose IN ('extract', 'repair'));

-- One row per passage that needs a repair, per extractor version:
--   kind 'unlocated'  a done passage with concepts whose span or quotes could not be located
--                     (items: those concepts); it is asked to copy them as written or drop them
--   kind 'failed'     a request that failed to parse, was cut off (MAX_TOKENS) or is dead;
--                     it is asked again (its passage_requests row is in the repair job meanwhile)
-- attempts counts the repair rounds the passage took part in (POLYMATH_REPAIR_MAX_ATTEMPTS).
CREATE TABLE IF NOT EXISTS repair_requests (
    extractor_version text NOT NULL,
    passage_id        uuid NOT NULL REFERENCES passages (passage_id),
    shard             int NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('unlocated', 'failed')),
    items             jsonb NOT NULL DEFAULT '[]'::jsonb,
    job_id            bigint REFERENCES batch_jobs (job_id),
    status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'in_flight', 'done', 'failed')),
    attempts          int NOT NULL DEFAULT 0,
    last_error        text,
    concepts_repaired int,
    concepts_dropped  int,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (extractor_version, passage_id)
);
CREATE INDEX IF NOT EXISTS repair_requests_status_idx ON repair_requests (extractor_version, shard, status);
CREATE INDEX IF NOT EXISTS repair_requests_job_idx ON repair_requests (job_id);
