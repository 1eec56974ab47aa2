"""All Cypher text of the concept graph, and nothing else.

Every value travels as a parameter. The only text that is ever spliced into a
statement is a node label, because Cypher cannot take labels as parameters; those
labels come from the fixed allow-list ``CONCEPT_LABELS`` below, never from data.

Every write is an ``UNWIND $rows`` batch built on MERGE (or a delete of what is gone),
so running any statement twice leaves the graph as running it once: a batch interrupted
half-way, or retried by the Neo4j driver, is repaired by simply running it again.

Both servers run the same statements. What differs is switched on the dialect here and
nowhere else: schema statements (``neo4j_schema`` / ``falkordb_index``) and batched deletes
(``batched_delete``). ``catalogue(dialect)`` lists every statement a dialect can emit (the
snapshot test, the Cypher lint and ``make test-neo4j`` read it).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

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

# Dialects. Neo4j 5.23 deprecated importing variables into a subquery with ``WITH`` (the
# 5.26 image logs a notice for every such statement) in favour of the scoped ``CALL (x) { … }``,
# which older 5.x servers cannot parse: the adapter picks the dialect from the server's agent.
NEO4J = "neo4j"                # Neo4j 5.23 and later (2025.x too): scoped subqueries
NEO4J_5_EARLY = "neo4j-5.0"    # Neo4j 5.0 to 5.22: CALL { WITH x … }
NEO4J_DIALECTS = (NEO4J, NEO4J_5_EARLY)
FALKORDB = "falkordb"
SCOPED_CALL_SINCE = (5, 23)

# (label, property) pairs every MERGE and MATCH of the sync looks nodes up by; unique.
LOOKUP_KEYS: tuple[tuple[str, str], ...] = (
    ("Paper", "doc_id"),
    ("Passage", "passage_id"),
    ("Concept", "concept_id"),  # the canonical concept (an integer: concepts.concept_id)
    ("PolymathGraph", "id"),  # the epoch marker: one node, whoever MERGEs it first
)
# Looked up by value but not unique: the shard of a passage (graph_counts, sweeps).
PLAIN_INDEXES: tuple[tuple[str, str], ...] = (("Passage", "shard"),)
INDEXED = LOOKUP_KEYS + PLAIN_INDEXES


# A MENTIONS relationship is identified by its concept and the surface the passage wrote
# (two surfaces of one concept in one passage are two mentions). Some surfaces are
# replaced by a digest in that key, because FalkorDB cannot find them again: string
# values of a few KB (measured: 3,000 characters found, 5,000 not), values ending in
# whitespace ("x\r", "x ") and values with control characters ("\x01"; both found by the
# Hypothesis test) are stored but never matched, so a MERGE on such a key would create a
# duplicate on every sync. The relationship keeps the full surface either way.
MAX_PLAIN_KEY_CHARS = 512


def _has_control(name: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in name)


def mention_key(concept_id: int, surface_type: str, surface: str) -> str:
    """The identity of a MENTIONS relationship of a passage: the concept and the surface as
    written, the surface digested where FalkorDB could not match it again (see above)."""
    if len(surface) > MAX_PLAIN_KEY_CHARS or surface[-1:].isspace() or _has_control(surface):
        surface = f"sha256:{hashlib.sha256(surface.encode()).hexdigest()}"
    return f"{int(concept_id)}|{surface_type}:{surface}"


# ---- the server switch: schema and batched deletes ----------------------------------------

def neo4j_dialect(agent: str) -> str:
    """The Neo4j dialect for a server's agent string (``Neo4j/5.26.0``, ``Neo4j/2025.01.0``,
    from ``driver.get_server_info().agent``). An agent that names no version gets the
    current dialect: every supported release from 5.23 on speaks it."""
    match = re.match(r"\s*neo4j/(\d+)\.(\d+)", agent or "", re.IGNORECASE)
    if match is None:
        return NEO4J
    return NEO4J if (int(match[1]), int(match[2])) >= SCOPED_CALL_SINCE else NEO4J_5_EARLY


def neo4j_schema() -> list[str]:
    """Neo4j 5: uniqueness constraints (each also backs an index) plus the shard index.
    The constraints make concurrent MERGEs of one key safe (one node, the other waits)."""
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
    # FalkorDB fails on an index that already exists, with or without IF NOT EXISTS; the
    # adapter asks FALKORDB_LIST_INDEXES first and creates only what is missing. It needs
    # no uniqueness constraint for MERGE: it runs one query at a time per graph.
    return f"CREATE INDEX FOR (n:{label}) ON (n.{prop})"


# Every index with its fields and state ("OPERATIONAL", or "[Indexing] n/total: UNDER
# CONSTRUCTION" while the server builds it in the background; until then queries scan the label).
FALKORDB_LIST_INDEXES = ("CALL db.indexes() YIELD label, properties, status "
                         "RETURN label, properties, status")
DELETE_BATCH = 10_000  # nodes per slice of a batched delete

# Labels with an indexed property whose value can be 0. FalkorDB 4.16 leaves every entity
# whose value is 0 (or 0.0, or false) out of an index it populates while loading a snapshot
# — shard 0's passages then match nothing — whereas an index built on a running server is
# whole. So on every new server process the embedded graph drops and builds again these
# labels' indexes, all their fields (local.embedded_graph, FalkorDBGraph.rebuild_indexes).
ZERO_VALUED_LABELS: tuple[str, ...] = ("Passage",)


def falkordb_drop_index(label: str, prop: str) -> str:
    return f"DROP INDEX FOR (n:{label}) ON (n.{prop})"


def batched_delete(dialect: str, match: str, var: str, batch: int) -> str:
    """DETACH DELETE what ``match`` binds to ``var`` in slices of ``batch``: Neo4j commits
    each slice in its own transaction (auto-commit only); FalkorDB has no CALL { } IN
    TRANSACTIONS, so its statement deletes one slice and returns how many, and the
    adapter repeats it until a slice comes back short. (``batch`` is spliced in as an
    integer literal: not every Neo4j 5 release takes a parameter there.)"""
    if not var.isidentifier():
        raise ValueError(f"{var!r} is not a Cypher variable")
    size = int(batch)
    if dialect == NEO4J:
        return f"{match}\nCALL ({var}) {{ DETACH DELETE {var} }} IN TRANSACTIONS OF {size} ROWS"
    if dialect == NEO4J_5_EARLY:
        return f"{match}\nCALL {{ WITH {var} DETACH DELETE {var} }} IN TRANSACTIONS OF {size} ROWS"
    return f"{match}\nWITH {var} LIMIT {size} DETACH DELETE {var} RETURN count({var}) AS deleted"


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
    """MERGE canonical concepts of one type; ``label`` must come from CONCEPT_LABELS."""
    if label not in CONCEPT_LABELS.values():
        raise ValueError(f"{label!r} is not a concept label of the allow-list")
    # Both labels in the MERGE pattern: an id names one concept of one type, so this finds
    # the same node, and the type label is written with the node instead of added
    # afterwards (measured: adding a label to each merged node costs more than the rest).
    return f"""
UNWIND $rows AS row
MERGE (c:Concept:{label} {{concept_id: row.concept_id}})
SET c.name = row.name, c.type = row.type, c.aliases = row.aliases, c.synced_at = $synced_at
"""


# A concept whose alias list changed is refreshed where it is; one that is not in the
# graph yet is created by the first sync that projects a mention of it.
REFRESH_CONCEPTS = """
UNWIND $rows AS row
MATCH (c:Concept {concept_id: row.concept_id})
SET c.name = row.name, c.type = row.type, c.aliases = row.aliases, c.synced_at = $synced_at
"""

# A re-synced passage keeps exactly the mentions of the current merge-policy result on
# the current canonical concepts: first drop those that left it (a rolled-back version, a
# row now below the floor, a surface now resolved to another concept), then MERGE the
# current ones. Concepts left with no mention are deleted afterwards (LINKS_OF_PASSAGES
# noted them, DELETE_ORPHAN_CONCEPTS).
PRUNE_MENTIONS = """
UNWIND $rows AS row
MATCH (p:Passage {passage_id: row.passage_id})-[m:MENTIONS]->(:Concept)
WHERE NOT m.key IN row.keys
DELETE m
"""

MERGE_MENTIONS = """
UNWIND $rows AS row
MATCH (p:Passage {passage_id: row.passage_id})
MATCH (c:Concept {concept_id: row.concept_id})
MERGE (p)-[m:MENTIONS {key: row.key}]->(c)
SET m.surface = row.surface, m.surface_type = row.surface_type, m.confidence = row.confidence,
    m.extractor_version = row.extractor_version
"""

# Before re-projecting passages, their current concepts and papers are noted: those that
# end up with nothing pointing at them are deleted. Passages that have no projected
# row any more leave the graph.
LINKS_OF_PASSAGES = """
UNWIND $ids AS id
MATCH (p:Passage {passage_id: id})
OPTIONAL MATCH (p)-[:MENTIONS]->(c:Concept)
OPTIONAL MATCH (p)-[:FROM_PAPER]->(d:Paper)
RETURN collect(DISTINCT c.concept_id) AS concepts, collect(DISTINCT d.doc_id) AS docs
"""
DELETE_PASSAGES = """
UNWIND $ids AS id
MATCH (p:Passage {passage_id: id})
DETACH DELETE p
"""
DELETE_ORPHAN_CONCEPTS = """
UNWIND $ids AS id
MATCH (c:Concept {concept_id: id})
WHERE NOT (c)<-[:MENTIONS]-()
DELETE c
"""
DELETE_ORPHAN_PAPERS = """
UNWIND $docs AS doc
MATCH (d:Paper {doc_id: doc})
WHERE NOT (d)<-[:FROM_PAPER]-()
DELETE d
"""

# Match clauses for batched_delete. After a full sync: the shard's passages this run did
# not write have no merged concepts any more and leave the graph; then every concept and
# paper that nothing points at.
def passages(shard: int | None) -> str:
    """The Passage pattern of one shard (None: all shards). The shard is a property map,
    not a WHERE clause, so both servers find it through the Passage.shard index."""
    return "(p:Passage)" if shard is None else "(p:Passage {shard: $shard})"


def stale_passages(shard: int | None) -> str:
    return f"MATCH {passages(shard)} WHERE p.synced_at < $synced_at"


ORPHAN_CONCEPTS = "MATCH (c:Concept) WHERE NOT (c)<-[:MENTIONS]-()"
ORPHAN_PAPERS = "MATCH (d:Paper) WHERE NOT (d)<-[:FROM_PAPER]-()"

# ---- reading back -------------------------------------------------------------------------

def count_mentions(shard: int | None) -> str:
    return f"""
MATCH {passages(shard)}
OPTIONAL MATCH (p)-[m:MENTIONS]->(c:Concept)
RETURN count(DISTINCT p) AS passages, count(m) AS mentions, count(DISTINCT c) AS concepts
"""


def count_papers(shard: int | None) -> str:
    return f"""
MATCH {passages(shard)}-[f:FROM_PAPER]->(d:Paper)
RETURN count(f) AS from_paper, count(DISTINCT d) AS papers
"""


COUNT_ORPHANS = """
OPTIONAL MATCH (c:Concept) WHERE NOT (c)<-[:MENTIONS]-()
WITH count(c) AS concepts
OPTIONAL MATCH (d:Paper) WHERE NOT (d)<-[:FROM_PAPER]-()
RETURN concepts, count(d) AS papers
"""

# The content the reconciliation digests (see graph.reconcile), for all shards or one.
def content_papers(shard: int | None) -> str:
    return f"""
MATCH {passages(shard)}-[:FROM_PAPER]->(d:Paper)
RETURN DISTINCT d.doc_id AS doc_id, d.title AS title
"""


def content_passages(shard: int | None) -> str:
    return f"""
MATCH {passages(shard)}
OPTIONAL MATCH (p)-[:FROM_PAPER]->(d:Paper)
RETURN p.passage_id AS passage_id, d.doc_id AS doc_id, p.text_preview AS text_preview
"""


def content_concepts(shard: int | None) -> str:
    return f"""
MATCH {passages(shard)}-[:MENTIONS]->(c:Concept)
RETURN DISTINCT c.concept_id AS concept_id, c.type AS type, c.name AS name, c.aliases AS aliases
"""


def content_mentions(shard: int | None) -> str:
    return f"""
MATCH {passages(shard)}-[m:MENTIONS]->(c:Concept)
RETURN p.passage_id AS passage_id, c.concept_id AS concept_id, m.surface_type AS surface_type,
       m.surface AS surface, m.extractor_version AS extractor_version
"""


# Verification path of the spec: concept <- passage -> paper.
PAPERS_OF_CONCEPT = """
MATCH (c:Concept {concept_id: $concept_id})<-[m:MENTIONS]-(p:Passage)-[:FROM_PAPER]->(d:Paper)
RETURN d.doc_id AS doc_id, d.title AS title, d.doi AS doi, p.passage_id AS passage_id, m.surface AS surface,
       m.confidence AS confidence, m.extractor_version AS extractor_version
ORDER BY m.confidence DESC, p.passage_id
LIMIT $limit
"""

# concept ← passage → paper chains, best-supported first (verify's sample).
TRAVERSAL = """
MATCH (c:Concept)<-[m:MENTIONS]-(p:Passage)-[:FROM_PAPER]->(paper:Paper)
RETURN c.concept_id AS concept_id, c.name AS concept, c.type AS type, m.surface AS surface,
       p.passage_id AS passage_id, p.text_preview AS preview, paper.title AS title, paper.doi AS doi,
       m.extractor_version AS extractor_version
ORDER BY m.confidence DESC, p.passage_id, c.name
LIMIT $limit
"""


# The graph's epoch marker (see sync.graph_epoch). MERGE on a fixed id (unique on Neo4j)
# keeps one marker even if two shards' syncs start at once; the first epoch written wins.
READ_EPOCH = "MATCH (s:PolymathGraph {id: 'polymath'}) RETURN s.epoch AS epoch"
CREATE_EPOCH = "MERGE (s:PolymathGraph {id: 'polymath'}) ON CREATE SET s.epoch = $epoch"


# ---- every statement of a dialect ----------------------------------------------------------

def catalogue(dialect: str) -> dict[str, str]:
    """Every statement the sync, the reconciliation and the read paths send in ``dialect``,
    by name, in an order that runs on an empty graph: schema, epoch, writes, reads, deletes.
    Statements scoped to a shard (``$shard``) appear in both forms: one shard, all shards."""
    found: dict[str, str] = {}
    if dialect in NEO4J_DIALECTS:
        found.update({f"schema {label}.{prop}": statement
                      for (label, prop), statement in zip(INDEXED, neo4j_schema(), strict=True)})
    else:
        found["list indexes"] = FALKORDB_LIST_INDEXES
        found.update({f"schema {label}.{prop}": falkordb_index(label, prop) for label, prop in INDEXED})
    found |= {"create epoch": CREATE_EPOCH, "read epoch": READ_EPOCH,
              "merge papers": MERGE_PAPERS, "merge passages": MERGE_PASSAGES}
    found |= {f"merge concepts {label}": merge_concepts(label) for label in CONCEPT_LABELS.values()}
    found |= {"refresh concepts": REFRESH_CONCEPTS, "prune mentions": PRUNE_MENTIONS,
              "merge mentions": MERGE_MENTIONS, "links of passages": LINKS_OF_PASSAGES}
    for scope, value in (("shard", 0), ("all shards", None)):
        found |= {f"count mentions ({scope})": count_mentions(value), f"count papers ({scope})": count_papers(value),
                  f"content papers ({scope})": content_papers(value),
                  f"content passages ({scope})": content_passages(value),
                  f"content concepts ({scope})": content_concepts(value),
                  f"content mentions ({scope})": content_mentions(value)}
    found |= {"count orphans": COUNT_ORPHANS, "papers of concept": PAPERS_OF_CONCEPT, "traversal": TRAVERSAL,
              "delete passages": DELETE_PASSAGES, "delete orphan concepts": DELETE_ORPHAN_CONCEPTS,
              "delete orphan papers": DELETE_ORPHAN_PAPERS}
    for scope, value in (("shard", 0), ("all shards", None)):
        found[f"delete stale passages ({scope})"] = batched_delete(dialect, stale_passages(value), "p", DELETE_BATCH)
    found["delete orphan concepts in batches"] = batched_delete(dialect, ORPHAN_CONCEPTS, "c", DELETE_BATCH)
    found["delete orphan papers in batches"] = batched_delete(dialect, ORPHAN_PAPERS, "d", DELETE_BATCH)
    return found
