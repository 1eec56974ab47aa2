-- Acronym definitions learned from every passage, weighed by documents: a pair written in
-- many papers outweighs one paper's own usage, and a paper repeating its definition in
-- ten passages is one vote. concept_acronyms.documents counts the distinct documents (and
-- names written as ``expansion (ACR)``) that give each pair.
ALTER TABLE concept_acronyms ADD COLUMN IF NOT EXISTS documents int NOT NULL DEFAULT 0;

-- Which passage (and document) defines which pair: for an acronym the corpus gives several
-- expansions (AP: average precision, affinity propagation), the definitions in the
-- documents that write the acronym decide it.
CREATE TABLE IF NOT EXISTS concept_acronym_definitions (
    passage_id    uuid NOT NULL,
    acronym_key   text NOT NULL,
    expansion_key text NOT NULL,
    doc_id        uuid NOT NULL,
    PRIMARY KEY (passage_id, acronym_key, expansion_key)
);
CREATE INDEX IF NOT EXISTS concept_acronym_definitions_doc_idx
    ON concept_acronym_definitions (acronym_key, doc_id, expansion_key);
