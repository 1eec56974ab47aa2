-- Merge policy: the best concept per (passage, concept name) across extractor versions.
-- The preference order and the confidence floor are configuration; the runner writes
-- them into these two tables (POLYMATH_MERGE_PREFERENCE, POLYMATH_CONFIDENCE_FLOOR), so
-- the view itself never changes when they do.
CREATE TABLE IF NOT EXISTS extractor_preference (
    extractor_version text PRIMARY KEY,
    rank              int NOT NULL
);
CREATE TABLE IF NOT EXISTS merge_settings (
    singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    confidence_floor real NOT NULL DEFAULT 0.7
);
INSERT INTO merge_settings (singleton) VALUES (true) ON CONFLICT DO NOTHING;

CREATE OR REPLACE VIEW passage_concepts_merged AS
WITH ranked AS (
    SELECT pc.*,
           row_number() OVER (
               PARTITION BY pc.passage_id, pc.concept_name
               ORDER BY coalesce(ep.rank, 2147483647), pc.confidence DESC NULLS LAST, pc.extractor_version
           ) AS preference
    FROM passage_concepts pc
    LEFT JOIN extractor_preference ep USING (extractor_version)
    WHERE pc.confidence >= (SELECT confidence_floor FROM merge_settings)
)
SELECT passage_id, concept_name, concept_type, aliases, confidence, extractor_model,
       extractor_version, evidence, created_at
FROM ranked
WHERE preference = 1;
