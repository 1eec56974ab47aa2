"""Checking the graph against PostgreSQL: counts and content.

Counts alone miss a wrong title or a mention swapped for another; so the reconciliation
also compares content, per kind, as a digest of sorted tuples of text: papers (doc_id,
title), passages (passage_id, the doc_id of its FROM_PAPER, text preview), concepts
(concept id, type, preferred name, aliases) and mentions (passage_id, concept id,
surface type, surface, extractor version) — the titles, names, aliases and relationship
keys. A merge or split that has not reached the graph shows as a difference. Where a
digest differs, a few of the differing tuples are reported.
For all shards at once (``shard=None``) concepts and papers that nothing points at must
not exist either.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field

import psycopg

from polymath_assets.graph import cypher
from polymath_assets.graph.connection import GraphConnection
from polymath_assets.kb import graph_source

KINDS = ("papers", "passages", "concepts", "mentions")
SAMPLE = 3


@dataclass(frozen=True)
class Reconciliation:
    shard: int | None
    expected: dict[str, int]
    actual: dict[str, int]
    ok: bool
    differences: dict[str, dict]
    digests: dict[str, dict[str, str]] = field(default_factory=dict)  # kind -> {"expected", "actual"}


def digest(rows: list[tuple]) -> str:
    """Order-independent digest of a multiset of tuples (JSON, so None and "" differ)."""
    lines = sorted(json.dumps(list(row), ensure_ascii=False) for row in rows)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def graph_content(graph: GraphConnection, shard: int | None) -> dict[str, list[tuple]]:
    queries = (cypher.content_papers(shard), cypher.content_passages(shard), cypher.content_concepts(shard),
               cypher.content_mentions(shard))
    return {kind: [tuple(tuple(v) if isinstance(v, list) else v for v in r.values())
                   for r in graph.records(query, shard=shard)]
            for kind, query in zip(KINDS, queries)}


def counts_of(content: dict[str, list[tuple]]) -> dict[str, int]:
    return {"papers": len(content["papers"]), "passages": len(content["passages"]),
            "concepts": len(content["concepts"]), "mentions": len(content["mentions"]),
            "from_paper": sum(1 for p in content["passages"] if p[1] is not None)}


def _sample(rows: Counter) -> list:
    return [list(row) for row in list(rows.elements())[:SAMPLE]]


def reconcile(conn: psycopg.Connection, graph: GraphConnection, *, shard: int | None,
              shard_count: int) -> Reconciliation:
    """Compare the graph with Postgres for the shard's whole scope (None: all shards)."""
    expected_content = graph_source.expected_content(conn, shard, shard_count, tuple(cypher.CONCEPT_LABELS))
    conn.commit()
    actual_content = graph_content(graph, shard)
    expected, actual = counts_of(expected_content), counts_of(actual_content)
    differences: dict[str, dict] = {name: {"expected": expected[name], "actual": actual[name]}
                                    for name in expected if expected[name] != actual[name]}
    digests = {}
    for kind in KINDS:
        want, have = digest(expected_content[kind]), digest(actual_content[kind])
        digests[kind] = {"expected": want, "actual": have}
        if want != have:
            want_rows, have_rows = Counter(expected_content[kind]), Counter(actual_content[kind])
            differences.setdefault(kind, {}).update(
                {"missing_in_graph": _sample(want_rows - have_rows), "unexpected_in_graph": _sample(have_rows - want_rows)})
    if shard is None:
        orphans = graph.records(cypher.COUNT_ORPHANS)[0]
        if orphans["concepts"] or orphans["papers"]:
            differences["orphans"] = {"concepts": orphans["concepts"], "papers": orphans["papers"]}
    return Reconciliation(shard=shard, expected=expected, actual=actual, ok=not differences,
                          differences=differences, digests=digests)


def graph_counts(graph: GraphConnection, shard: int | None) -> dict[str, int]:
    """What the graph holds for the shard's passages (None: all passages): passages,
    their MENTIONS, the distinct concepts they mention, their papers, FROM_PAPER."""
    found = {**graph.records(cypher.count_mentions(shard), shard=shard)[0],
             **graph.records(cypher.count_papers(shard), shard=shard)[0]}
    return {name: int(found[name]) for name in ("papers", "passages", "concepts", "mentions", "from_paper")}
