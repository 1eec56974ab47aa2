-- Per-shard reads of passage_concepts (the gates, the QC report) must touch only that
-- shard's rows. The shard of a row is a pure function of its passage id (shards.py):
-- the first 28 bits of md5(id) modulo the shard count. It is stored here, computed by
-- PostgreSQL itself on every insert (so every loader fills it) and, when this migration
-- runs, for the rows already there. The shard count it was computed for is recorded in
-- kb_settings; `polymath migrate` re-computes the column if the configured count changes.
CREATE TABLE IF NOT EXISTS kb_settings (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    shard_count int NOT NULL CHECK (shard_count > 0)
);
INSERT INTO kb_settings (shard_count) VALUES ({{SHARD_COUNT}}) ON CONFLICT DO NOTHING;

ALTER TABLE passage_concepts ADD COLUMN IF NOT EXISTS shard int
    GENERATED ALWAYS AS ((('x' || substr(md5(passage_id::text), 1, 7))::bit(28)::int) % {{SHARD_COUNT}}) STORED;
-- passage_id last: the per-passage row counts of the ledger reconciliation are an
-- index-only scan of one shard.
CREATE INDEX IF NOT EXISTS passage_concepts_version_shard_idx
    ON passage_concepts (extractor_version, shard, passage_id);
