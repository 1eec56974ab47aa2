-- Canonical concepts: one idea, one node. Extracted rows in passage_concepts keep their
-- surface form; the canonical id is looked up through concept_aliases, never written
-- into them. Every manual merge and split is logged with the state needed to undo it.
CREATE TABLE IF NOT EXISTS concepts (
    concept_id     bigserial PRIMARY KEY,
    preferred_name text NOT NULL,
    concept_type   text NOT NULL,
    -- The centre of the cluster for the embedding stage: the preferred name's vector when
    -- the concept was created (members are judged against it, never against each other).
    name_embedding vector({{EMBEDDING_DIM}}),
    -- Set when an operator merged this concept into another; neighbours found here are
    -- redirected there, and undoing the merge clears it.
    merged_into    bigint REFERENCES concepts (concept_id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS concepts_name_embedding_hnsw ON concepts USING hnsw (name_embedding vector_cosine_ops);

-- One row per (surface, type) an extractor wrote: which concept it names and why.
CREATE TABLE IF NOT EXISTS concept_aliases (
    surface          text NOT NULL,
    concept_type     text NOT NULL,
    concept_id       bigint NOT NULL REFERENCES concepts (concept_id),
    norm_key         text NOT NULL,
    stage            text NOT NULL CHECK (stage IN ('new', 'key', 'acronym', 'embedding', 'manual')),
    score            real,
    decided_at       timestamptz NOT NULL DEFAULT now(),
    resolver_version text NOT NULL,
    pinned           boolean NOT NULL DEFAULT false,   -- an operator's decision: the resolver never changes it
    PRIMARY KEY (surface, concept_type)
);
CREATE INDEX IF NOT EXISTS concept_aliases_concept_idx ON concept_aliases (concept_id);
CREATE INDEX IF NOT EXISTS concept_aliases_key_idx ON concept_aliases (norm_key);

-- Acronym ↔ expansion pairs seen in passages (``long short-term memory (LSTM)``), by key,
-- with the number of passages that wrote each pair; and which passages were scanned.
CREATE TABLE IF NOT EXISTS concept_acronyms (
    acronym_key   text NOT NULL,
    expansion_key text NOT NULL,
    acronym       text NOT NULL,
    expansion     text NOT NULL,
    passages      int NOT NULL DEFAULT 0,
    PRIMARY KEY (acronym_key, expansion_key)
);
CREATE INDEX IF NOT EXISTS concept_acronyms_expansion_idx ON concept_acronyms (expansion_key);
CREATE TABLE IF NOT EXISTS concept_acronym_scans (
    passage_id uuid PRIMARY KEY
);

-- The merge log: every merge, split and undo, with the alias rows as they were before,
-- so that any entry can be undone (an undo is itself logged).
CREATE TABLE IF NOT EXISTS concept_merges (
    merge_id      bigserial PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('merge', 'split', 'undo')),
    from_concept  bigint REFERENCES concepts (concept_id),
    to_concept    bigint REFERENCES concepts (concept_id),
    surfaces      jsonb NOT NULL,            -- [[surface, type], ...] that moved
    before_state  jsonb NOT NULL,            -- {"aliases": [...], "concepts": [...]} before the change
    undoes        bigint REFERENCES concept_merges (merge_id),
    undone_by     bigint REFERENCES concept_merges (merge_id),
    actor         text NOT NULL,
    note          text,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per resolver run: what it decided, by stage.
CREATE TABLE IF NOT EXISTS concept_resolution_runs (
    run_id           bigserial PRIMARY KEY,
    resolver_version text NOT NULL,
    full_rebuild     boolean NOT NULL DEFAULT false,
    surfaces         int NOT NULL DEFAULT 0,
    concepts_created int NOT NULL DEFAULT 0,
    by_stage         jsonb NOT NULL DEFAULT '{}'::jsonb,
    seconds          real,
    started_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);

-- The merge-policy rows with their canonical concept beside them (NULL until resolved).
CREATE OR REPLACE VIEW passage_concepts_canonical AS
SELECT m.passage_id, m.concept_name, m.concept_type, m.aliases, m.confidence, m.extractor_model,
       m.extractor_version, m.evidence, m.created_at,
       a.concept_id, c.preferred_name, c.concept_type AS canonical_type
FROM passage_concepts_merged m
LEFT JOIN concept_aliases a ON a.surface = m.concept_name AND a.concept_type = m.concept_type
LEFT JOIN concepts c ON c.concept_id = a.concept_id;
