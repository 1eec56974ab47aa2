"""Read-only graph queries used by verification."""

TRAVERSAL = """
MATCH (c:Concept)<-[m:MENTIONS]-(p:Passage)-[:FROM_PAPER]->(paper:Paper)
RETURN c.name AS concept, c.type AS type, p.passage_id AS passage_id, p.text_preview AS preview,
       paper.title AS title, paper.doi AS doi, m.extractor_version AS extractor_version
ORDER BY m.confidence DESC, p.passage_id, c.name
LIMIT $limit
"""


def concept_passage_paper(graph, limit: int = 3) -> list[dict]:
    """concept ← passage → paper chains, best-supported first."""
    return graph.records(TRAVERSAL, limit=limit)
