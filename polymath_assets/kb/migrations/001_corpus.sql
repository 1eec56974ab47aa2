-- Corpus tables. Names and columns match the group's existing database; on that
-- database every statement here is a no-op or only adds what is missing.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE IF NOT EXISTS documents (
    doc_id      uuid PRIMARY KEY,
    title       text,
    year        int,
    doi         text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS passages (
    passage_id      uuid PRIMARY KEY,
    doc_id          uuid NOT NULL REFERENCES documents (doc_id),
    section         text,
    passage_text    text NOT NULL,
    embedding       vector({{EMBEDDING_DIM}}),
    embedding_model text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE passages ADD COLUMN IF NOT EXISTS embedding vector({{EMBEDDING_DIM}});
ALTER TABLE passages ADD COLUMN IF NOT EXISTS embedding_model text;

-- The shard of a passage is a pure function of its id: the first 28 bits of md5(id),
-- modulo the shard count (polymath_assets.defs.partitions.shard_of computes the same in
-- Python). The hash is stored so a shard is an index lookup, whatever the shard count.
ALTER TABLE passages ADD COLUMN IF NOT EXISTS shard_hash int
    GENERATED ALWAYS AS (('x' || substr(md5(passage_id::text), 1, 7))::bit(28)::int) STORED;
CREATE INDEX IF NOT EXISTS passages_doc_id_idx ON passages (doc_id);
