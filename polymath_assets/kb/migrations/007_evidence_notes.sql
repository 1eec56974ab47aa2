-- The evidence's quality.notes ("extracted by <model>") repeated the row's extractor_model
-- in every concept row; rows now store it only when it says something else. The view
-- serves the full SPEC §2 JSON: source_text from passages, notes from extractor_model
-- where the row has none.
CREATE OR REPLACE VIEW passage_concepts_evidence AS
SELECT c.passage_id, c.concept_name, c.concept_type, c.aliases, c.confidence, c.extractor_model,
       c.extractor_version, c.shard, c.created_at,
       CASE WHEN c.evidence IS NULL THEN NULL
            WHEN c.evidence->'quality' ? 'notes' OR c.extractor_model IS NULL
                THEN c.evidence || jsonb_build_object('source_text', left(p.passage_text, 1200))
            ELSE jsonb_set(c.evidence, '{quality,notes}', to_jsonb('extracted by ' || c.extractor_model))
                 || jsonb_build_object('source_text', left(p.passage_text, 1200)) END AS evidence
FROM passage_concepts c
JOIN passages p USING (passage_id);
