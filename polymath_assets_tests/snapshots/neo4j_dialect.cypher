// schema Paper.doc_id
CREATE CONSTRAINT paper_doc_id_unique IF NOT EXISTS FOR (n:Paper) REQUIRE n.doc_id IS UNIQUE;

// schema Passage.passage_id
CREATE CONSTRAINT passage_passage_id_unique IF NOT EXISTS FOR (n:Passage) REQUIRE n.passage_id IS UNIQUE;

// schema Concept.concept_id
CREATE CONSTRAINT concept_concept_id_unique IF NOT EXISTS FOR (n:Concept) REQUIRE n.concept_id IS UNIQUE;

// schema PolymathGraph.id
CREATE CONSTRAINT polymathgraph_id_unique IF NOT EXISTS FOR (n:PolymathGraph) REQUIRE n.id IS UNIQUE;

// schema Passage.shard
CREATE INDEX passage_shard_idx IF NOT EXISTS FOR (n:Passage) ON (n.shard);

// create epoch
MERGE (s:PolymathGraph {id: 'polymath'}) ON CREATE SET s.epoch = $epoch;

// read epoch
MATCH (s:PolymathGraph {id: 'polymath'}) RETURN s.epoch AS epoch;

// merge papers
UNWIND $rows AS row
MERGE (d:Paper {doc_id: row.doc_id})
SET d.title = row.title, d.year = row.year, d.doi = row.doi, d.synced_at = $synced_at;

// merge passages
UNWIND $rows AS row
MERGE (p:Passage {passage_id: row.passage_id})
SET p.doc_id = row.doc_id, p.section = row.section, p.text_preview = row.text_preview,
    p.shard = row.shard, p.synced_at = $synced_at
WITH p, row
MATCH (d:Paper {doc_id: row.doc_id})
MERGE (p)-[:FROM_PAPER]->(d);

// merge concepts Method
UNWIND $rows AS row
MERGE (c:Concept:Method {concept_id: row.concept_id})
SET c.name = row.name, c.type = row.type, c.aliases = row.aliases, c.synced_at = $synced_at;

// merge concepts Problem
UNWIND $rows AS row
MERGE (c:Concept:Problem {concept_id: row.concept_id})
SET c.name = row.name, c.type = row.type, c.aliases = row.aliases, c.synced_at = $synced_at;

// merge concepts Domain
UNWIND $rows AS row
MERGE (c:Concept:Domain {concept_id: row.concept_id})
SET c.name = row.name, c.type = row.type, c.aliases = row.aliases, c.synced_at = $synced_at;

// merge concepts Model
UNWIND $rows AS row
MERGE (c:Concept:Model {concept_id: row.concept_id})
SET c.name = row.name, c.type = row.type, c.aliases = row.aliases, c.synced_at = $synced_at;

// merge concepts Dataset
UNWIND $rows AS row
MERGE (c:Concept:Dataset {concept_id: row.concept_id})
SET c.name = row.name, c.type = row.type, c.aliases = row.aliases, c.synced_at = $synced_at;

// merge concepts Metric
UNWIND $rows AS row
MERGE (c:Concept:Metric {concept_id: row.concept_id})
SET c.name = row.name, c.type = row.type, c.aliases = row.aliases, c.synced_at = $synced_at;

// merge concepts Entity
UNWIND $rows AS row
MERGE (c:Concept:Entity {concept_id: row.concept_id})
SET c.name = row.name, c.type = row.type, c.aliases = row.aliases, c.synced_at = $synced_at;

// refresh concepts
UNWIND $rows AS row
MATCH (c:Concept {concept_id: row.concept_id})
SET c.name = row.name, c.type = row.type, c.aliases = row.aliases, c.synced_at = $synced_at;

// prune mentions
UNWIND $rows AS row
MATCH (p:Passage {passage_id: row.passage_id})-[m:MENTIONS]->(:Concept)
WHERE NOT m.key IN row.keys
DELETE m;

// merge mentions
UNWIND $rows AS row
MATCH (p:Passage {passage_id: row.passage_id})
MATCH (c:Concept {concept_id: row.concept_id})
MERGE (p)-[m:MENTIONS {key: row.key}]->(c)
SET m.surface = row.surface, m.surface_type = row.surface_type, m.confidence = row.confidence,
    m.extractor_version = row.extractor_version;

// links of passages
UNWIND $ids AS id
MATCH (p:Passage {passage_id: id})
OPTIONAL MATCH (p)-[:MENTIONS]->(c:Concept)
OPTIONAL MATCH (p)-[:FROM_PAPER]->(d:Paper)
RETURN collect(DISTINCT c.concept_id) AS concepts, collect(DISTINCT d.doc_id) AS docs;

// count mentions (shard)
MATCH (p:Passage {shard: $shard})
OPTIONAL MATCH (p)-[m:MENTIONS]->(c:Concept)
RETURN count(DISTINCT p) AS passages, count(m) AS mentions, count(DISTINCT c) AS concepts;

// count papers (shard)
MATCH (p:Passage {shard: $shard})-[f:FROM_PAPER]->(d:Paper)
RETURN count(f) AS from_paper, count(DISTINCT d) AS papers;

// content papers (shard)
MATCH (p:Passage {shard: $shard})-[:FROM_PAPER]->(d:Paper)
RETURN DISTINCT d.doc_id AS doc_id, d.title AS title;

// content passages (shard)
MATCH (p:Passage {shard: $shard})
OPTIONAL MATCH (p)-[:FROM_PAPER]->(d:Paper)
RETURN p.passage_id AS passage_id, d.doc_id AS doc_id, p.text_preview AS text_preview;

// content concepts (shard)
MATCH (p:Passage {shard: $shard})-[:MENTIONS]->(c:Concept)
RETURN DISTINCT c.concept_id AS concept_id, c.type AS type, c.name AS name, c.aliases AS aliases;

// content mentions (shard)
MATCH (p:Passage {shard: $shard})-[m:MENTIONS]->(c:Concept)
RETURN p.passage_id AS passage_id, c.concept_id AS concept_id, m.surface_type AS surface_type,
       m.surface AS surface, m.extractor_version AS extractor_version;

// count mentions (all shards)
MATCH (p:Passage)
OPTIONAL MATCH (p)-[m:MENTIONS]->(c:Concept)
RETURN count(DISTINCT p) AS passages, count(m) AS mentions, count(DISTINCT c) AS concepts;

// count papers (all shards)
MATCH (p:Passage)-[f:FROM_PAPER]->(d:Paper)
RETURN count(f) AS from_paper, count(DISTINCT d) AS papers;

// content papers (all shards)
MATCH (p:Passage)-[:FROM_PAPER]->(d:Paper)
RETURN DISTINCT d.doc_id AS doc_id, d.title AS title;

// content passages (all shards)
MATCH (p:Passage)
OPTIONAL MATCH (p)-[:FROM_PAPER]->(d:Paper)
RETURN p.passage_id AS passage_id, d.doc_id AS doc_id, p.text_preview AS text_preview;

// content concepts (all shards)
MATCH (p:Passage)-[:MENTIONS]->(c:Concept)
RETURN DISTINCT c.concept_id AS concept_id, c.type AS type, c.name AS name, c.aliases AS aliases;

// content mentions (all shards)
MATCH (p:Passage)-[m:MENTIONS]->(c:Concept)
RETURN p.passage_id AS passage_id, c.concept_id AS concept_id, m.surface_type AS surface_type,
       m.surface AS surface, m.extractor_version AS extractor_version;

// count orphans
OPTIONAL MATCH (c:Concept) WHERE NOT (c)<-[:MENTIONS]-()
WITH count(c) AS concepts
OPTIONAL MATCH (d:Paper) WHERE NOT (d)<-[:FROM_PAPER]-()
RETURN concepts, count(d) AS papers;

// papers of concept
MATCH (c:Concept {concept_id: $concept_id})<-[m:MENTIONS]-(p:Passage)-[:FROM_PAPER]->(d:Paper)
RETURN d.doc_id AS doc_id, d.title AS title, d.doi AS doi, p.passage_id AS passage_id, m.surface AS surface,
       m.confidence AS confidence, m.extractor_version AS extractor_version
ORDER BY m.confidence DESC, p.passage_id
LIMIT $limit;

// traversal
MATCH (c:Concept)<-[m:MENTIONS]-(p:Passage)-[:FROM_PAPER]->(paper:Paper)
RETURN c.concept_id AS concept_id, c.name AS concept, c.type AS type, m.surface AS surface,
       p.passage_id AS passage_id, p.text_preview AS preview, paper.title AS title, paper.doi AS doi,
       m.extractor_version AS extractor_version
ORDER BY m.confidence DESC, p.passage_id, c.name
LIMIT $limit;

// delete passages
UNWIND $ids AS id
MATCH (p:Passage {passage_id: id})
DETACH DELETE p;

// delete orphan concepts
UNWIND $ids AS id
MATCH (c:Concept {concept_id: id})
WHERE NOT (c)<-[:MENTIONS]-()
DELETE c;

// delete orphan papers
UNWIND $docs AS doc
MATCH (d:Paper {doc_id: doc})
WHERE NOT (d)<-[:FROM_PAPER]-()
DELETE d;

// delete stale passages (shard)
MATCH (p:Passage {shard: $shard}) WHERE p.synced_at < $synced_at
CALL (p) { DETACH DELETE p } IN TRANSACTIONS OF 10000 ROWS;

// delete stale passages (all shards)
MATCH (p:Passage) WHERE p.synced_at < $synced_at
CALL (p) { DETACH DELETE p } IN TRANSACTIONS OF 10000 ROWS;

// delete orphan concepts in batches
MATCH (c:Concept) WHERE NOT (c)<-[:MENTIONS]-()
CALL (c) { DETACH DELETE c } IN TRANSACTIONS OF 10000 ROWS;

// delete orphan papers in batches
MATCH (d:Paper) WHERE NOT (d)<-[:FROM_PAPER]-()
CALL (d) { DETACH DELETE d } IN TRANSACTIONS OF 10000 ROWS;

// delete stale passages (shard) [neo4j-5.0]
MATCH (p:Passage {shard: $shard}) WHERE p.synced_at < $synced_at
CALL { WITH p DETACH DELETE p } IN TRANSACTIONS OF 10000 ROWS;

// delete stale passages (all shards) [neo4j-5.0]
MATCH (p:Passage) WHERE p.synced_at < $synced_at
CALL { WITH p DETACH DELETE p } IN TRANSACTIONS OF 10000 ROWS;

// delete orphan concepts in batches [neo4j-5.0]
MATCH (c:Concept) WHERE NOT (c)<-[:MENTIONS]-()
CALL { WITH c DETACH DELETE c } IN TRANSACTIONS OF 10000 ROWS;

// delete orphan papers in batches [neo4j-5.0]
MATCH (d:Paper) WHERE NOT (d)<-[:FROM_PAPER]-()
CALL { WITH d DETACH DELETE d } IN TRANSACTIONS OF 10000 ROWS;
