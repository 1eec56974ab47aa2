"""Read-only graph queries: verification paths and the operator's `polymath graph query`."""

from __future__ import annotations

from polymath_assets.graph import cypher
from polymath_assets.graph.connection import GraphConnection


def concept_passage_paper(graph: GraphConnection, limit: int = 3) -> list[dict]:
    """concept ← passage → paper chains, best-supported first."""
    return graph.records(cypher.TRAVERSAL, limit=limit)


def papers_of_concept(graph: GraphConnection, concept_id: int, limit: int = 20) -> list[dict]:
    """Traversal concept <- passage -> paper: the papers (title, DOI) whose passages
    mention the canonical concept, under whichever surface."""
    return graph.records(cypher.PAPERS_OF_CONCEPT, concept_id=int(concept_id), limit=limit)


def read_only_query(graph: GraphConnection, statement: str, params: dict | None = None) -> list[dict]:
    """An operator's query, run read-only on whichever server is configured: Neo4j in a
    READ transaction, FalkorDB through GRAPH.RO_QUERY. A write is refused by the server
    (GraphStatementError), never executed."""
    return graph.records(statement, **(params or {}))
