"""The concept graph sync, on the real embedded graph server and a real PostgreSQL.

Concepts are written straight into passage_concepts (no extraction run): several
extractor versions, some rows below the confidence floor, one unknown type, so the
merge policy and the label allow-list are exercised on data.
"""

from __future__ import annotations

import json

import pytest

from polymath_assets.corpus.lexicon import LEXICON
from polymath_assets.graph import (
    GraphUnavailable,
    cypher,
    open_driver,
    papers_of_concept,
    reconcile,
    sync_shard,
    wrap_driver,
)
from polymath_assets.graph.connection import kind_from
from polymath_assets.kb import graph_source
from polymath_assets_tests.extraction_helpers import load_sample

SHARDS = 64
BATCH = 200
TERMS = [(name, kind) for kind, names in LEXICON.items() for name in names]
BELOW_FLOOR = "phlogiston theory"  # only ever extracted with confidence 0.4


def _insert(conn, rows) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO passage_concepts (passage_id, concept_name, concept_type, confidence,
                                             extractor_model, extractor_version)
               VALUES (%s, %s, %s, %s, 'test', %s)""", rows)
    conn.commit()


@pytest.fixture
def corpus(kb):
    """The sample corpus with concepts: per passage 5 gemini_batch_v1 concepts (0.9), an
    llm_v2 duplicate of the first one (0.99, must lose to the preferred version), an
    llm_v2-only concept, every 10th passage a below-floor concept and an unknown type."""
    load_sample(kb)
    passages = [r[0] for r in kb.execute("SELECT passage_id FROM passages ORDER BY passage_id").fetchall()]
    rows = []
    for i, pid in enumerate(passages):
        chosen = [TERMS[(i * 7 + j * 13) % len(TERMS)] for j in range(5)]
        rows += [(pid, name, kind, 0.9, "gemini_batch_v1") for name, kind in chosen]
        rows.append((pid, chosen[0][0], chosen[0][1], 0.99, "llm_v2"))
        extra = TERMS[(i * 11 + 3) % len(TERMS)]
        if extra not in chosen:
            rows.append((pid, extra[0], extra[1], 0.8, "llm_v2"))
        if i % 10 == 0:
            rows.append((pid, BELOW_FLOOR, "method", 0.4, "gemini_batch_v1"))
            rows.append((pid, "flux capacitor", "gizmo", 0.95, "gemini_batch_v1"))
    _insert(kb, rows)
    return passages


@pytest.fixture
def g(graph, graph_server):
    return wrap_driver(graph, graph_server)


def _sync(kb, g, shard=None, full=False):
    return sync_shard(kb, g, shard=shard, shard_count=SHARDS, batch_size=BATCH, full=full)


def _shard_with_passages(kb) -> int:
    return kb.execute(f"SELECT shard_hash % {SHARDS} FROM passages GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchone()[0]


def test_embedded_server_is_detected_as_falkordb_although_it_says_neo4j(g):
    assert g.driver.get_server_info().agent.startswith("Neo4j/")
    assert g.kind == cypher.FALKORDB
    assert kind_from("Neo4j/5.20.0", answers_neo4j_components=True) == cypher.NEO4J
    assert kind_from("FalkorDB/4.18", answers_neo4j_components=False) == cypher.FALKORDB


def test_unreachable_graph_names_the_uri_and_what_to_do():
    with pytest.raises(GraphUnavailable) as err:
        open_driver("bolt://127.0.0.1:9", auth=("neo4j", "x"))
    assert "bolt://127.0.0.1:9" in str(err.value) and "NEO4J_URI" in str(err.value)


def test_second_full_sync_creates_nothing_and_incremental_after_it_has_empty_scope(kb, g, corpus):
    first = _sync(kb, g, full=True)
    assert first.counts["passages"] == len(corpus)
    assert first.graph_changes["nodes_created"] == first.counts["papers"] + first.counts["passages"] + first.counts["concepts"]
    before = reconcile(kb, g, shard=None, shard_count=SHARDS)
    assert before.ok, before.differences

    second = _sync(kb, g, full=True)
    assert second.counts == first.counts
    for counter in ("nodes_created", "relationships_created", "nodes_deleted", "relationships_deleted", "labels_added"):
        assert counter not in second.graph_changes, second.graph_changes
    assert reconcile(kb, g, shard=None, shard_count=SHARDS).actual == before.actual

    third = _sync(kb, g)
    assert third.counts == {"papers": 0, "passages": 0, "concepts": 0, "mentions": 0}
    assert third.watermark == second.watermark


def test_reconcile_detects_a_deleted_mention_and_full_resync_repairs_it(kb, g, corpus):
    shard = _shard_with_passages(kb)
    result = _sync(kb, g, shard=shard)
    assert result.counts["passages"] > 0
    assert kb.execute("SELECT checkpoint->>'watermark' FROM kb_migrations WHERE job_name = %s",
                      (f"graph_sync:shard-{shard:03d}",)).fetchone()[0] == result.watermark
    assert reconcile(kb, g, shard=shard, shard_count=SHARDS).ok

    g.run("MATCH (p:Passage {shard: $shard})-[m:MENTIONS]->() WITH m LIMIT 1 DELETE m", shard=shard)
    broken = reconcile(kb, g, shard=shard, shard_count=SHARDS)
    assert not broken.ok
    assert broken.differences["mentions"] == {"expected": broken.expected["mentions"],
                                              "actual": broken.expected["mentions"] - 1}

    _sync(kb, g, shard=shard)  # incremental: nothing new in Postgres, so nothing repaired
    assert not reconcile(kb, g, shard=shard, shard_count=SHARDS).ok
    _sync(kb, g, shard=shard, full=True)
    assert reconcile(kb, g, shard=shard, shard_count=SHARDS).ok


def test_an_emptied_graph_is_projected_again_by_a_plain_incremental_sync(kb, g, corpus):
    """A graph lost with its server (or wiped) has no epoch marker any more: the
    watermarks recorded against it stop counting, so nothing stays missing."""
    shard = _shard_with_passages(kb)
    _sync(kb, g, shard=shard)
    assert reconcile(kb, g, shard=shard, shard_count=SHARDS).ok
    g.run("MATCH (n) DETACH DELETE n")
    assert not reconcile(kb, g, shard=shard, shard_count=SHARDS).ok
    again = _sync(kb, g, shard=shard)  # not full=True
    assert again.counts["passages"] > 0
    assert reconcile(kb, g, shard=shard, shard_count=SHARDS).ok


def test_merge_policy_decides_what_is_projected(kb, g, corpus):
    _sync(kb, g, full=True)
    assert g.records("MATCH (c:Concept {name: $name}) RETURN count(c) AS n", name=BELOW_FLOOR)[0]["n"] == 0
    # The first concept of each passage exists as gemini_batch_v1 (0.9) and llm_v2 (0.99):
    # the preferred version wins although its confidence is lower.
    first = TERMS[0]
    mention = g.records(
        "MATCH (p:Passage {passage_id: $pid})-[m:MENTIONS]->(c:Concept {key: $key}) "
        "RETURN m.confidence AS confidence, m.extractor_version AS version",
        pid=str(corpus[0]), key=cypher.concept_key(first[1], first[0]))
    assert len(mention) == 1
    assert mention[0]["version"] == "gemini_batch_v1" and mention[0]["confidence"] == pytest.approx(0.9)
    expected = graph_source.expected_counts(kb, None, SHARDS)
    kb.commit()
    assert expected["mentions"] == kb.execute(
        "SELECT count(*) FROM passage_concepts_merged WHERE concept_type <> 'gizmo'").fetchone()[0]


def test_concept_labels_come_from_the_allow_list_and_unknown_types_are_skipped(kb, g, corpus):
    result = _sync(kb, g, full=True)
    assert result.skipped_unknown_type == len(range(0, len(corpus), 10))
    labels = {r["label"] for r in g.records("CALL db.labels() YIELD label RETURN label")}
    assert labels == {"Paper", "Passage", "Concept", "PolymathGraph"} | set(cypher.CONCEPT_LABELS.values())
    method = LEXICON["method"][0]
    node = g.records("MATCH (c:Concept {key: $key}) RETURN labels(c) AS labels, c.type AS type",
                     key=cypher.concept_key("method", method))
    assert sorted(node[0]["labels"]) == ["Concept", "Method"] and node[0]["type"] == "method"
    assert g.records("MATCH (c:Concept {name: 'flux capacitor'}) RETURN count(c) AS n")[0]["n"] == 0
    with pytest.raises(ValueError):
        cypher.merge_concepts("Gizmo) DETACH DELETE (c")


def test_incremental_sync_touches_only_passages_with_new_rows(kb, g, corpus):
    first = _sync(kb, g)
    target = corpus[5]
    merged_before = kb.execute("SELECT count(*) FROM passage_concepts_merged WHERE passage_id = %s AND "
                               "concept_type <> 'gizmo'", (target,)).fetchone()[0]
    _insert(kb, [(target, "newly found concept", "problem", 0.85, "gemini_batch_v1")])

    second = _sync(kb, g)
    assert second.counts == {"papers": 1, "passages": 1, "concepts": merged_before + 1, "mentions": merged_before + 1}
    assert second.watermark > first.watermark
    found = g.records("MATCH (p:Passage)-[:MENTIONS]->(:Concept {key: 'problem:newly found concept'}) "
                      "RETURN p.passage_id AS pid")
    assert found == [{"pid": str(target)}]
    assert reconcile(kb, g, shard=None, shard_count=SHARDS).ok


def test_resynced_passage_loses_mentions_that_left_the_merge_policy(kb, g, corpus):
    _sync(kb, g)
    target = corpus[1]
    name, kind = kb.execute("""SELECT concept_name, concept_type FROM passage_concepts
                               WHERE passage_id = %s AND extractor_version = 'llm_v2'
                                 AND concept_name NOT IN (SELECT concept_name FROM passage_concepts
                                                          WHERE passage_id = %s AND extractor_version = 'gemini_batch_v1')""",
                            (target, target)).fetchone()
    other = next(t for t in cypher.CONCEPT_LABELS if t != kind)
    # The preferred version now calls it another type: the old (type, name) mention must go.
    _insert(kb, [(target, name, other, 0.9, "gemini_batch_v1")])
    _sync(kb, g)
    keys = {r["key"] for r in g.records("MATCH (:Passage {passage_id: $pid})-[:MENTIONS]->(c:Concept) RETURN c.key AS key",
                                        pid=str(target))}
    assert cypher.concept_key(other, name) in keys and cypher.concept_key(kind, name) not in keys
    assert reconcile(kb, g, shard=None, shard_count=SHARDS).ok


def test_traversal_concept_to_passage_to_paper_returns_title_and_doi(kb, g, corpus):
    _sync(kb, g)
    name, kind, title, doi = kb.execute("""
        SELECT m.concept_name, m.concept_type, d.title, d.doi FROM passage_concepts_merged m
        JOIN passages p USING (passage_id) JOIN documents d USING (doc_id)
        WHERE m.passage_id = %s AND m.extractor_version = 'gemini_batch_v1' ORDER BY 1 LIMIT 1""",
                                          (corpus[2],)).fetchone()
    found = papers_of_concept(g, kind, name, limit=1000)
    assert {"title": title, "doi": doi} in [{"title": r["title"], "doi": r["doi"]} for r in found]
    assert all(r["title"] for r in found)


def test_statements_to_falkordb_are_split_below_its_bolt_message_limit():
    from polymath_assets.graph.sync import RowTooLarge, chunk_rows

    rows = [{"passage_id": f"p{i}", "text_preview": "x" * 150} for i in range(100)]
    chunks = list(chunk_rows(rows, 3000, 300))
    assert [r for c in chunks for r in c] == rows and len(chunks) > 1
    assert all(300 + sum(len(json.dumps(r)) + 1 for r in c) <= 3000 for c in chunks)
    assert list(chunk_rows(rows, None, 300)) == [rows]
    assert list(chunk_rows([], 3000, 300)) == []
    with pytest.raises(RowTooLarge):
        list(chunk_rows([{"title": "t" * 5000}], 3000, 300))
