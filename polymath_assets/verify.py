"""End-to-end verification: the three checks of the integration plan.

1. traceability   concept → passage → paper (title, DOI) and the passage has an embedding
2. traversal      concept ← passage → paper in the graph, and Postgres agrees
3. vector search  a passage's own embedding finds it first, neighbours ranked by distance
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Check:
    name: str
    passed: bool
    detail: str
    rows: list[dict] = field(default_factory=list)


def check_traceability(conn, version: str) -> Check:
    from polymath_assets.kb.search import traceability

    rows = traceability(conn, version)
    if not rows:
        return Check("traceability", False, f"no {version} concepts above the confidence floor; run the pilot first")
    missing = [r for r in rows if not (r["title"] and r["has_embedding"])]
    return Check("traceability", not missing,
                 "every concept traces to a paper with a title and an embedded passage" if not missing
                 else f"{len(missing)} of {len(rows)} rows lack a title or an embedding; embed the shard", rows)


def check_traversal(conn, graph) -> Check:
    from polymath_assets.graph.traversal import concept_passage_paper
    from polymath_assets.kb.concepts import in_canonical_view

    rows = concept_passage_paper(graph)
    if not rows:
        return Check("graph traversal", False, "no concept ← passage → paper path in the graph; sync the graph")
    confirmed = sum(1 for r in rows if in_canonical_view(conn, r["passage_id"], r["surface"], r["concept_id"]))
    return Check("graph traversal", confirmed == len(rows),
                 f"{confirmed} of {len(rows)} graph paths confirmed by Postgres", rows)


def check_vector_search(conn, k: int = 5) -> Check:
    from polymath_assets.kb.search import nearest_passages, sample_embedded_passage

    sample = sample_embedded_passage(conn)
    if sample is None:
        return Check("vector search", False, "no passage has an embedding; run passage_embeddings")
    passage_id, vector = sample
    rows = nearest_passages(conn, vector, k)
    distances = [r["distance"] for r in rows]
    ok = bool(rows) and rows[0]["passage_id"] == passage_id and distances == sorted(distances)
    return Check("vector search", ok,
                 f"query by passage {passage_id}: top hit {'is itself' if ok else 'is not itself'}, "
                 f"{len(rows)} neighbours ranked by cosine distance", rows)
