-- Evidence rows no longer store `source_text` (the passage, up to 1200 characters, once
-- per concept: more than half of every evidence value). This view serves the full
-- evidence JSON of SPEC §2, adding `source_text` from passages.passage_text. Rows written
-- before the change still carry their own copy; the view returns the same value.
CREATE OR REPLACE VIEW passage_concepts_evidence AS
SELECT c.passage_id, c.concept_name, c.concept_type, c.aliases, c.confidence, c.extractor_model,
       c.extractor_version, c.shard, c.created_at,
       CASE WHEN c.evidence IS NULL THEN NULL
            ELSE c.evidence || jsonb_build_object('source_text', left(p.passage_text, 1200)) END AS evidence
FROM passage_concepts c
JOIN passages p USING (passage_id);
