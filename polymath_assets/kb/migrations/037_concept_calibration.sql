-- The resolver's configuration record: the embedding-stage threshold calibrated for each
-- embedding model (``polymath concepts calibrate --gold FILE``), with what it was measured
-- on, so a model never runs with a threshold tuned for another.
CREATE TABLE IF NOT EXISTS concept_resolver_config (
    embedding_model text PRIMARY KEY,
    similarity      real NOT NULL CHECK (similarity > 0 AND similarity <= 1),
    gold_file       text NOT NULL,
    gold_sha256     text NOT NULL,
    gold_surfaces   int NOT NULL,
    min_precision   real NOT NULL,
    precision       real NOT NULL,   -- of the embedding stage's merges at this threshold (pairs)
    recall          real NOT NULL,
    b3_f1           real NOT NULL,   -- of the whole resolution of the gold set
    sweep           jsonb NOT NULL,  -- every threshold measured: [{threshold, precision, recall, b3_...}]
    calibrated_by   text NOT NULL,
    calibrated_at   timestamptz NOT NULL DEFAULT now()
);

-- Which threshold each run used, and where it came from.
ALTER TABLE concept_resolution_runs ADD COLUMN IF NOT EXISTS similarity real;
ALTER TABLE concept_resolution_runs ADD COLUMN IF NOT EXISTS similarity_source text;
