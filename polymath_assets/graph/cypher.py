"""All Cypher text of the concept graph, and nothing else.

Every value travels as a parameter. The only text that is ever spliced into a
statement is a node label, because Cypher cannot take labels as parameters; those
labels come from the fixed allow-list ``CONCEPT_LABELS`` below, never from data.

Every write is an ``UNWIND $rows`` batch built on MERGE, so running any statement twice
leaves the graph as running it once: the embedded FalkorDB applies each statement as it
runs (BEGIN/COMMIT are no-ops there), so a batch interrupted half-way is repaired by
simply running it again.
"""

from __future__ import annotations

from polymath_assets.corpus.lexicon import CONCEPT_TYPES

# Concept type (as stored in passage_concepts.concept_type) -> extra node label.
CONCEPT_LABELS: dict[str, str] = {
    "method": "Method",
    "problem": "Problem",
    "domain": "Domain",
    "model": "Model",
    "dataset": "Dataset",
    "metric": "Metric",
    "entity": "Entity",
}
assert set(CONCEPT_LABELS) == set(CONCEPT_TYPES), "every lexicon type needs exactly one label"

NEO4J = "neo4j"
FALKORDB = "falkordb"

# (label, property) pairs every MERGE and MATCH of the sync looks nodes up by.
LOOKUP_KEYS: tuple[tuple[str, str], ...] = (
    ("Paper", "doc_id"),
    ("Passage", "passage_id"),
    ("Concept", "key"),
)
# Looked up by value but not unique: the shard of a passage (graph_counts, sweeps).
PLAIN_INDEXES: tuple[tuple[str, str], ...] = (("Passage", "shard"),)


def concept_key(concept_type: str, name: str) -> str:
    """The identity of a Concept node: the same name under two types is two concepts."""
    return f"{concept_type}:{name}"


def concept_label(concept_type: str) -> str | None:
    """The extra label for a concept type, or None for a type outside the allow-list."""
    return CONCEPT_LABELS.get(concept_type)


# ---- schema ---------------------------------------------------------------------------

def neo4j_schema() -> list[str]:
    """Neo4j 5: uniqueness constraints (each also backs an index) plus the shard index."""
    statements = [
        f"CREATE CONSTRAINT {label.lower()}_{prop}_unique IF NOT EXISTS "
        f"FOR (n:{label}) REQUIRE n.{prop} IS UNIQUE"
        for label, prop in LOOKUP_KEYS
    ]
    statements += [
        f"CREATE INDEX {label.lower()}_{prop}_idx IF NOT EXISTS FOR (n:{label}) ON (n.{prop})"
        for label, prop in PLAIN_INDEXES
    ]
    return statements


def falkordb_index(label: str, prop: str) -> str:
    # FalkorDB has no CREATE CONSTRAINT in Cypher and fails (with an opaque error) on an
    # index that already exists, with or without IF NOT EXISTS; the caller asks
    # FALKORDB_LIST_INDEXES first and creates only what is missing.
    return f"CREATE INDEX FOR (n:{label}) ON (n.{prop})"


FALKORDB_LIST_INDEXES = "CALL db.indexes() YIELD label, properties RETURN label, properties"

# Neo4j 5 answers this; FalkorDB (which reports agent "Neo4j/5.13.0") raises an error.
NEO4J_COMPONENTS = "CALL dbms.components() YIELD name RETURN name"

# ---- batched writes ---------------------------------------------------------------------

MERGE_PAPERS = """
UNWIND $rows AS row
MERGE (d:Paper {doc_id: row.doc_id})
SET d.title = row.title, d.year = row.year, d.doi = row.doi, d.synced_at = $synced_at
"""

MERGE_PASSAGES = """
UNWIND $rows AS row
MERGE (p:Passage {passage_id: row.passage_id})
SET p.doc_id = row.doc_id, p.section = row.section, p.text_preview = row.text_preview,
    p.shard = row.shard, p.synced_at = $synced_at
WITH p, row
MATCH (d:Paper {doc_id: row.doc_id})
MERGE (p)-[:FROM_PAPER]->(d)
"""


def merge_concepts(label: str) -> str:
    """MERGE the concepts of one type; ``label`` must come from CONCEPT_LABELS."""
    if label not in CONCEPT_LABELS.values():
        raise ValueError(f"{label!r} is not a concept label of the allow-list")
    return f"""
UNWIND $rows AS row
MERGE (c:Concept {{key: row.key}})
SET c.name = row.name, c.type = row.type, c.synced_at = $synced_at, c:{label}
"""


# A re-synced passage keeps exactly the mentions of the current merge-policy result:
# first drop those that left it (e.g. a concept now below the floor or replaced by a
# preferred version under another name), then MERGE the current ones.
PRUNE_MENTIONS = """
UNWIND $rows AS row
MATCH (p:Passage {passage_id: row.passage_id})-[m:MENTIONS]->(c:Concept)
WHERE NOT c.key IN row.keys
DELETE m
"""

MERGE_MENTIONS = """
UNWIND $rows AS row
MATCH (p:Passage {passage_id: row.passage_id})
MATCH (c:Concept {key: row.key})
MERGE (p)-[m:MENTIONS]->(c)
SET m.confidence = row.confidence, m.extractor_version = row.extractor_version
"""

# After a full sync: passages of the shard that this run did not touch have no merged
# concepts any more (e.g. an extractor version was rolled back) and leave the graph.
SWEEP_SHARD_PASSAGES = """
MATCH (p:Passage {shard: $shard})
WHERE p.synced_at < $synced_at
DETACH DELETE p
"""
SWEEP_ALL_PASSAGES = """
MATCH (p:Passage)
WHERE p.synced_at < $synced_at
DETACH DELETE p
"""

# ---- reading back -------------------------------------------------------------------------

COUNT_SHARD_MENTIONS = """
MATCH (p:Passage {shard: $shard})
OPTIONAL MATCH (p)-[m:MENTIONS]->(c:Concept)
RETURN count(DISTINCT p) AS passages, count(m) AS mentions, count(DISTINCT c) AS concepts
"""
COUNT_SHARD_PAPERS = """
MATCH (p:Passage {shard: $shard})-[f:FROM_PAPER]->(d:Paper)
RETURN count(f) AS from_paper, count(DISTINCT d) AS papers
"""
COUNT_ALL_MENTIONS = """
MATCH (p:Passage)
OPTIONAL MATCH (p)-[m:MENTIONS]->(c:Concept)
RETURN count(DISTINCT p) AS passages, count(m) AS mentions, count(DISTINCT c) AS concepts
"""
COUNT_ALL_PAPERS = """
MATCH (p:Passage)-[f:FROM_PAPER]->(d:Paper)
RETURN count(f) AS from_paper, count(DISTINCT d) AS papers
"""

# Verification path of the spec: concept <- passage -> paper.
PAPERS_OF_CONCEPT = """
MATCH (c:Concept {key: $key})<-[m:MENTIONS]-(p:Passage)-[:FROM_PAPER]->(d:Paper)
RETURN d.doc_id AS doc_id, d.title AS title, d.doi AS doi, p.passage_id AS passage_id,
       m.confidence AS confidence, m.extractor_version AS extractor_version
ORDER BY m.confidence DESC, p.passage_id
LIMIT $limit
"""


# The graph's epoch marker (see sync.graph_epoch). MERGE on a fixed id keeps one marker
# even if two shards' syncs start at once; the first epoch written wins.
READ_EPOCH = "MATCH (s:PolymathGraph {id: 'polymath'}) RETURN s.epoch AS epoch"
CREATE_EPOCH = "MERGE (s:PolymathGraph {id: 'polymath'}) ON CREATE SET s.epoch = $epoch"
