-- Concepts per passage, several extractor versions side by side.
CREATE TABLE IF NOT EXISTS passage_concepts (
    passage_id        uuid NOT NULL REFERENCES passages (passage_id),
    concept_name      text NOT NULL,
    concept_type      text NOT NULL,
    aliases           jsonb NOT NULL DEFAULT '[]'::jsonb,
    confidence        real,
    extractor_model   text,
    extractor_version text NOT NULL,
    evidence          jsonb,
    created_at        timestamptz NOT NULL DEFAULT now()
);
-- Re-loading the same results must never duplicate a row: one row per concept name
-- per passage per extractor version (the loader inserts ... ON CONFLICT DO NOTHING).
CREATE UNIQUE INDEX IF NOT EXISTS passage_concepts_identity
    ON passage_concepts (passage_id, extractor_version, concept_name);
CREATE INDEX IF NOT EXISTS passage_concepts_version_idx ON passage_concepts (extractor_version);
CREATE INDEX IF NOT EXISTS passage_concepts_name_idx ON passage_concepts (concept_name);
