-- The graph projects canonical concepts (one Concept node per concept_id, with its
-- preferred name and aliases). A change of canonical concepts reaches the graph through
-- the same kind of log as a change of extracted rows (migration 015 says why a log):
--
-- * the passages that write a surface whose alias was added, moved or removed go into
--   graph_changes, so their MENTIONS are re-projected onto the surface's concept now;
-- * the concepts whose alias list changed go into graph_concept_changes, so their nodes'
--   aliases are refreshed (and a concept left with no mention is removed), even where no
--   passage of the synced shard mentions them.
--
-- Writers of concept_aliases: the resolver (one at a time: advisory lock) and the
-- operators' merge / split / undo (one transaction each). Reader and consumer of both
-- logs: the graph sync (one at a time: advisory lock), which deletes exactly the rows it
-- claimed, in the transaction that records the sync.
CREATE TABLE IF NOT EXISTS graph_concept_changes (
    change_id  bigserial PRIMARY KEY,
    concept_id bigint NOT NULL,
    logged_at  timestamptz NOT NULL DEFAULT now()
);

-- Statement-level, like 015: a resolver run that writes 100k aliases costs two INSERT ...
-- SELECTs; the passages are found through passage_concepts_name_idx.
CREATE OR REPLACE FUNCTION graph_log_alias_moves(surfaces text[], types text[], concept_ids bigint[])
RETURNS void LANGUAGE sql AS $$
    INSERT INTO graph_changes (passage_id)
    SELECT DISTINCT pc.passage_id FROM passage_concepts pc
    JOIN (SELECT DISTINCT * FROM unnest(surfaces, types) AS a (surface, concept_type)) a
      ON pc.concept_name = a.surface AND pc.concept_type = a.concept_type;
    INSERT INTO graph_concept_changes (concept_id) SELECT DISTINCT unnest(concept_ids);
$$;

CREATE OR REPLACE FUNCTION graph_log_alias_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM graph_log_alias_moves(array_agg(surface), array_agg(concept_type), array_agg(concept_id))
        FROM new_rows HAVING count(*) > 0;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM graph_log_alias_moves(array_agg(surface), array_agg(concept_type), array_agg(concept_id))
        FROM old_rows HAVING count(*) > 0;
    ELSE
        -- Only aliases that changed concept matter to the graph (a re-pin or a new score
        -- changes nothing it shows); both the old and the new concept are refreshed.
        PERFORM graph_log_alias_moves(array_agg(n.surface), array_agg(n.concept_type),
                                      array_agg(o.concept_id) || array_agg(n.concept_id))
        FROM old_rows o JOIN new_rows n USING (surface, concept_type)
        WHERE n.concept_id IS DISTINCT FROM o.concept_id HAVING count(*) > 0;
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS graph_log_alias_insert ON concept_aliases;
CREATE TRIGGER graph_log_alias_insert AFTER INSERT ON concept_aliases
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION graph_log_alias_rows();
DROP TRIGGER IF EXISTS graph_log_alias_update ON concept_aliases;
CREATE TRIGGER graph_log_alias_update AFTER UPDATE ON concept_aliases
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION graph_log_alias_rows();
DROP TRIGGER IF EXISTS graph_log_alias_delete ON concept_aliases;
CREATE TRIGGER graph_log_alias_delete AFTER DELETE ON concept_aliases
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION graph_log_alias_rows();

-- A concept's preferred name or type is shown on its node.
CREATE OR REPLACE FUNCTION graph_log_concept_updates() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO graph_concept_changes (concept_id)
    SELECT n.concept_id FROM new_rows n JOIN old_rows o USING (concept_id)
    WHERE (n.preferred_name, n.concept_type) IS DISTINCT FROM (o.preferred_name, o.concept_type);
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS graph_log_concept_update ON concepts;
CREATE TRIGGER graph_log_concept_update AFTER UPDATE ON concepts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION graph_log_concept_updates();
