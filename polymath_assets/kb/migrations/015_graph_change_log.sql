-- The graph's change log: one row per passage whose projection may have changed, written
-- by triggers in the same transaction as the change, consumed by the graph sync.
--
-- Why a log and not a watermark: a watermark on a timestamp or sequence value taken at
-- insert time skips rows forever when a transaction that took a smaller value commits
-- after one that took a larger value (now() is the transaction's start, a bigserial is
-- drawn at insert, both are out of commit order). A log has no order to get wrong: the
-- sync claims the rows it can see (SELECT ... FOR UPDATE SKIP LOCKED), projects those
-- passages, and deletes exactly the claimed rows in the transaction that records the
-- sync. A row committed later is simply still there for the next sync; a concurrent
-- sync of the same shard skips rows already claimed; a sync that dies releases its
-- claim. Deletions (a rollback, a removed concept) are logged like inserts, so they
-- reach the graph too. Merge-policy changes are not logged row by row: the sync keeps a
-- digest of the policy and re-projects a shard whole when it differs.
CREATE TABLE IF NOT EXISTS graph_changes (
    change_id  bigserial PRIMARY KEY,
    passage_id uuid NOT NULL,
    logged_at  timestamptz NOT NULL DEFAULT now()
);
-- The per-shard claim looks rows up by passage (the shard's passages come from the
-- passages shard index): index-backed, whatever the shard count.
CREATE INDEX IF NOT EXISTS graph_changes_passage_idx ON graph_changes (passage_id);

-- Statement-level triggers with transition tables: one INSERT of distinct passage ids
-- per statement, so a COPY of 100k concept rows costs one extra statement, not 100k.
CREATE OR REPLACE FUNCTION graph_log_concept_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO graph_changes (passage_id) SELECT DISTINCT passage_id FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO graph_changes (passage_id) SELECT DISTINCT passage_id FROM old_rows;
    ELSE
        INSERT INTO graph_changes (passage_id)
        SELECT passage_id FROM new_rows UNION SELECT passage_id FROM old_rows;
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS graph_log_concept_insert ON passage_concepts;
CREATE TRIGGER graph_log_concept_insert AFTER INSERT ON passage_concepts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION graph_log_concept_rows();
DROP TRIGGER IF EXISTS graph_log_concept_update ON passage_concepts;
CREATE TRIGGER graph_log_concept_update AFTER UPDATE ON passage_concepts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION graph_log_concept_rows();
DROP TRIGGER IF EXISTS graph_log_concept_delete ON passage_concepts;
CREATE TRIGGER graph_log_concept_delete AFTER DELETE ON passage_concepts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION graph_log_concept_rows();

-- A paper's title, year or DOI reaches the graph through its passages. (Passages are not
-- watched: their text never changes after ingest, and their embedding write-back, a
-- bulk UPDATE, must not pay for a trigger.)
CREATE OR REPLACE FUNCTION graph_log_document_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO graph_changes (passage_id)
    SELECT p.passage_id FROM passages p
    WHERE p.doc_id IN (SELECT n.doc_id FROM new_rows n JOIN old_rows o USING (doc_id)
                       WHERE (n.title, n.year, n.doi) IS DISTINCT FROM (o.title, o.year, o.doi));
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS graph_log_document_update ON documents;
CREATE TRIGGER graph_log_document_update AFTER UPDATE ON documents
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION graph_log_document_rows();
