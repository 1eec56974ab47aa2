"""The graph contract: the sync from a real PostgreSQL into a real graph server, run
against both adapters — the embedded FalkorDB over its own protocol, and the Neo4j
adapter (official driver, managed transactions) against a Bolt server started for the
tests. Bolt's stand-in splices parameters into the query text and crashes on messages of
~4 KB, so its runs use data without apostrophes and small batches; the tests that need
hostile values or a server-enforced read-only mode are embedded-only (marked below).

Concepts are written straight into passage_concepts (no extraction run): several
extractor versions, some rows below the confidence floor, one unknown type, so the
merge policy and the label allow-list are exercised on data.
"""

from __future__ import annotations

import threading

import psycopg
import pytest

from polymath_assets.corpus.lexicon import LEXICON
from polymath_assets.graph import (
    GraphStatementError,
    GraphUnavailable,
    cypher,
    open_graph,
    papers_of_concept,
    reconcile,
    sync_shard,
)
from polymath_assets.graph.reconcile import counts_of
from polymath_assets.kb import graph_source
from polymath_assets.kb.ledger import forget_version
from polymath_assets.kb.migrate import set_merge_policy
from polymath_assets_tests.concept_helpers import resolve_all
from polymath_assets_tests.extraction_helpers import load_sample

SHARDS = 64
TERMS = [(name, kind) for kind, names in LEXICON.items() for name in names]
BELOW_FLOOR = "phlogiston theory"  # only ever extracted with confidence 0.4
BATCH = 200  # rows per statement


def _batch(g) -> int:
    # The Bolt stand-in (Neo4j adapter, FalkorDB dialect) crashes on messages of ~4 KB.
    return 4 if g.kind == cypher.NEO4J and g.dialect == cypher.FALKORDB else BATCH


def _insert(conn, rows) -> None:
    """Extracted rows, then their surfaces resolved (as the canonical_concepts asset does
    before the graph)."""
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO passage_concepts (passage_id, concept_name, concept_type, confidence,
                                             extractor_model, extractor_version)
               VALUES (%s, %s, %s, %s, 'test', %s)""", rows)
    conn.commit()
    resolve_all(conn)


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


@pytest.fixture(params=["falkordb", "neo4j"])
def g(request):
    """The graph contract runs on both adapters."""
    return request.getfixturevalue("graph" if request.param == "falkordb" else "neo4j_graph")


def _sync(kb, g, shard=None, full=False):
    return sync_shard(kb, g, shard=shard, shard_count=SHARDS, batch_size=_batch(g), full=full)


def _ok(kb, g, shard=None):
    result = reconcile(kb, g, shard=shard, shard_count=SHARDS)
    assert result.ok, result.differences
    return result


def _shard_with_passages(kb, rank: int = 0) -> int:
    return kb.execute(f"SELECT shard_hash % {SHARDS} FROM passages GROUP BY 1 ORDER BY count(*) DESC, 1 "
                      f"LIMIT 1 OFFSET {rank}").fetchone()[0]


def test_unreachable_graphs_name_the_uri_and_what_to_do(tmp_path):
    for uri in ("bolt://127.0.0.1:9", f"falkordb+unix://{tmp_path}/none.sock", "http://example.invalid"):
        with pytest.raises(GraphUnavailable) as err:
            open_graph(uri, auth=("neo4j", "x"))
        assert uri in str(err.value) and "NEO4J_URI" in str(err.value)


def test_second_full_sync_creates_nothing_and_incremental_after_it_has_empty_scope(kb, g, corpus):
    first = _sync(kb, g)
    assert first.full_reason == "first sync of the shard"
    assert first.counts["passages"] == len(corpus)
    assert first.graph_changes["nodes_created"] == first.counts["papers"] + first.counts["passages"] + first.counts["concepts"]
    before = _ok(kb, g)

    second = _sync(kb, g, full=True)
    assert second.full_reason == "requested" and second.counts == first.counts
    for counter in ("nodes_created", "relationships_created", "nodes_deleted", "relationships_deleted", "labels_added"):
        assert counter not in second.graph_changes, second.graph_changes
    assert second.removed_passages == 0
    assert _ok(kb, g).digests == before.digests

    third = _sync(kb, g)
    assert third.full_reason is None and third.claimed_passages == 0
    assert third.counts == {"papers": 0, "passages": 0, "concepts": 0, "mentions": 0}
    assert third.watermark >= second.watermark


def test_reconcile_compares_content_not_only_counts_and_full_resync_repairs_it(kb, g, corpus):
    shard = _shard_with_passages(kb)
    result = _sync(kb, g, shard=shard)
    assert result.counts["passages"] > 0
    assert kb.execute("SELECT checkpoint->>'watermark' FROM kb_migrations WHERE job_name = %s",
                      (f"graph_sync:shard-{shard:03d}",)).fetchone()[0] == result.watermark
    _ok(kb, g, shard)

    g.run("MATCH (p:Passage {shard: $shard})-[m:MENTIONS]->() WITH m LIMIT 1 DELETE m", shard=shard)
    broken = reconcile(kb, g, shard=shard, shard_count=SHARDS)
    assert not broken.ok
    assert broken.differences["mentions"]["expected"] == broken.differences["mentions"]["actual"] + 1
    assert len(broken.differences["mentions"]["missing_in_graph"]) == 1

    _sync(kb, g, shard=shard, full=True)
    _ok(kb, g, shard)
    # Same counts, another title: only the content digest sees it.
    g.run("MATCH (p:Passage {shard: $shard})-[:FROM_PAPER]->(d:Paper) WITH d LIMIT 1 SET d.title = 'renamed'",
          shard=shard)
    renamed = reconcile(kb, g, shard=shard, shard_count=SHARDS)
    assert not renamed.ok and renamed.expected == renamed.actual
    assert renamed.differences["papers"]["unexpected_in_graph"][0][1] == "renamed"
    _sync(kb, g, shard=shard, full=True)
    _ok(kb, g, shard)


def test_an_emptied_graph_is_projected_again_by_a_plain_incremental_sync(kb, g, corpus):
    """A graph lost with its server (or wiped) has no epoch marker any more: the
    checkpoints recorded against it stop counting, so nothing stays missing."""
    shard = _shard_with_passages(kb)
    _sync(kb, g, shard=shard)
    _ok(kb, g, shard)
    g.run("MATCH (n) DETACH DELETE n")
    assert not reconcile(kb, g, shard=shard, shard_count=SHARDS).ok
    again = _sync(kb, g, shard=shard)  # not full=True
    assert again.full_reason == "the graph was emptied or replaced since the last sync"
    assert again.counts["passages"] > 0
    _ok(kb, g, shard)


def test_merge_policy_decides_what_is_projected(kb, g, corpus):
    _sync(kb, g)
    assert g.records("MATCH (c:Concept {name: $name}) RETURN count(c) AS n", name=BELOW_FLOOR)[0]["n"] == 0
    # The first concept of each passage exists as gemini_batch_v1 (0.9) and llm_v2 (0.99):
    # the preferred version wins although its confidence is lower.
    first = TERMS[0]
    mention = g.records(
        "MATCH (p:Passage {passage_id: $pid})-[m:MENTIONS {surface: $name}]->(c:Concept) "
        "RETURN m.confidence AS confidence, m.extractor_version AS version",
        pid=str(corpus[0]), name=first[0])
    assert len(mention) == 1
    assert mention[0]["version"] == "gemini_batch_v1" and mention[0]["confidence"] == pytest.approx(0.9)
    expected = counts_of(graph_source.expected_content(kb, None, SHARDS))
    kb.commit()
    assert expected["mentions"] == kb.execute(
        "SELECT count(*) FROM passage_concepts_merged WHERE concept_type <> 'gizmo'").fetchone()[0]
    # One node per canonical concept, fewer than the (surface, type) pairs the rows write.
    assert expected["concepts"] == kb.execute(
        "SELECT count(DISTINCT concept_id) FROM passage_concepts_canonical WHERE concept_type <> 'gizmo'").fetchone()[0]
    kb.commit()


def test_a_merge_preference_change_is_reflected_by_the_next_sync(kb, g, corpus):
    _sync(kb, g)
    set_merge_policy(kb, ("llm_v2", "gemini_batch_v1"), 0.7)
    kb.commit()
    after = _sync(kb, g)  # not full=True: the policy digest differs
    assert after.full_reason == "the merge policy changed since the last sync"
    first = TERMS[0]
    mention = g.records("MATCH (p:Passage {passage_id: $pid})-[m:MENTIONS {surface: $name}]->(c:Concept) "
                        "RETURN m.extractor_version AS version", pid=str(corpus[0]), name=first[0])
    assert mention == [{"version": "llm_v2"}]
    _ok(kb, g)
    set_merge_policy(kb, ("llm_v2", "gemini_batch_v1"), 0.3)  # the floor now admits phlogiston theory
    kb.commit()
    _sync(kb, g)
    assert g.records("MATCH (c:Concept {name: $name}) RETURN count(c) AS n", name=BELOW_FLOOR)[0]["n"] == 1
    _ok(kb, g)


def test_rollback_of_a_version_reaches_the_graph_and_leaves_nothing_of_it(kb, g, corpus):
    _sync(kb, g)
    assert g.records("MATCH ()-[m:MENTIONS {extractor_version: 'llm_v2'}]->() RETURN count(m) AS n")[0]["n"] > 0

    forget_version(kb, "gemini_batch_v1", concepts=True)  # the preferred version: llm_v2 takes over
    forget_version(kb, "llm_v2", concepts=True)
    kb.commit()
    # Some passages had only these versions: they must leave the graph.
    result = _sync(kb, g)
    assert result.full_reason is None and result.claimed_passages == len(corpus)
    assert result.removed_passages == len(corpus)  # nothing else was extracted
    for version in ("llm_v2", "gemini_batch_v1"):
        assert g.records("MATCH ()-[m:MENTIONS {extractor_version: $v}]->() RETURN count(m) AS n",
                         v=version)[0]["n"] == 0
    assert g.records("MATCH (c:Concept) RETURN count(c) AS n")[0]["n"] == 0
    assert g.records("MATCH (d:Paper) RETURN count(d) AS n")[0]["n"] == 0
    _ok(kb, g)


def test_rolling_back_one_version_keeps_the_others(kb, g, corpus):
    _insert(kb, [(corpus[7], "found only by v2", "dataset", 0.9, "llm_v2")])
    _sync(kb, g)
    assert g.records("MATCH (c:Concept {name: 'found only by v2'}) RETURN count(c) AS n")[0]["n"] == 1
    forget_version(kb, "llm_v2", concepts=True)
    kb.commit()
    _sync(kb, g)
    assert g.records("MATCH ()-[m:MENTIONS {extractor_version: 'llm_v2'}]->() RETURN count(m) AS n")[0]["n"] == 0
    assert g.records("MATCH (c:Concept {name: 'found only by v2'}) RETURN count(c) AS n")[0]["n"] == 0
    reconciled = _ok(kb, g)
    assert reconciled.actual["passages"] == len(corpus)


def test_concept_labels_come_from_the_allow_list_and_unknown_types_are_skipped(kb, g, corpus):
    result = _sync(kb, g)
    assert result.skipped_unknown_type == len(range(0, len(corpus), 10))
    labels = {r["label"] for r in g.records("CALL db.labels() YIELD label RETURN label")}
    assert labels == {"Paper", "Passage", "Concept", "PolymathGraph"} | set(cypher.CONCEPT_LABELS.values())
    method = LEXICON["method"][0]
    node = g.records("MATCH (c:Concept {name: $name}) RETURN labels(c) AS labels, c.type AS type", name=method)
    assert sorted(node[0]["labels"]) == ["Concept", "Method"] and node[0]["type"] == "method"
    assert g.records("MATCH (c:Concept {name: 'flux capacitor'}) RETURN count(c) AS n")[0]["n"] == 0
    with pytest.raises(ValueError):
        cypher.merge_concepts("Gizmo) DETACH DELETE (c")


def test_incremental_sync_touches_only_passages_with_new_rows(kb, g, corpus):
    _sync(kb, g)
    target = corpus[5]
    rows_before, concepts_before = kb.execute(
        "SELECT count(*), count(DISTINCT concept_id) FROM passage_concepts_canonical WHERE passage_id = %s AND "
        "concept_type <> 'gizmo'", (target,)).fetchone()
    _insert(kb, [(target, "newly found concept", "problem", 0.85, "gemini_batch_v1")])

    second = _sync(kb, g)
    assert second.full_reason is None and second.claimed_passages == 1
    assert second.counts == {"papers": 1, "passages": 1, "concepts": concepts_before + 1, "mentions": rows_before + 1}
    found = g.records("MATCH (p:Passage)-[:MENTIONS {surface: 'newly found concept'}]->(:Concept:Problem) "
                      "RETURN p.passage_id AS pid")
    assert found == [{"pid": str(target)}]
    assert kb.execute("SELECT count(*) FROM graph_changes").fetchone()[0] == 0  # every change consumed
    assert kb.execute("SELECT count(*) FROM graph_concept_changes").fetchone()[0] == 0
    kb.commit()
    _ok(kb, g)


def test_a_change_committed_after_a_later_one_is_not_skipped(kb_dsn, kb, g, corpus):
    """The commit-order problem: a transaction that started first (so its rows carry the
    earlier created_at) commits after a sync has recorded a later change. A timestamp
    watermark would skip its rows forever; the change log cannot."""
    _sync(kb, g)
    early, late = corpus[3], corpus[4]
    with psycopg.connect(kb_dsn) as slow:
        slow.execute("INSERT INTO passage_concepts (passage_id, concept_name, concept_type, confidence, "
                     "extractor_model, extractor_version) VALUES (%s, 'slow commit', 'method', 0.9, 't', "
                     "'gemini_batch_v1')", (early,))
        _insert(kb, [(late, "quick commit", "method", 0.9, "gemini_batch_v1")])
        _sync(kb, g)  # sees the quick one; the slow one is not committed yet
        slow.commit()
    assert kb.execute("SELECT min(created_at) FROM passage_concepts WHERE concept_name = 'slow commit'").fetchone()[0] \
        < kb.execute("SELECT min(created_at) FROM passage_concepts WHERE concept_name = 'quick commit'").fetchone()[0]
    kb.commit()
    _sync(kb, g)
    resolve_all(kb)  # the slow commit's surface, as the next canonical_concepts run does
    _sync(kb, g)
    names = {r["pid"]: r["name"] for r in g.records(
        "MATCH (p:Passage)-[:MENTIONS]->(c:Concept) WHERE c.name IN ['slow commit', 'quick commit'] "
        "RETURN p.passage_id AS pid, c.name AS name")}
    assert names == {str(early): "slow commit", str(late): "quick commit"}
    _ok(kb, g)


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
    types = {r["type"] for r in g.records("MATCH (:Passage {passage_id: $pid})-[m:MENTIONS {surface: $name}]->(c:Concept) "
                                          "RETURN m.surface_type AS type", pid=str(target), name=name)}
    assert types == {other}
    _ok(kb, g)


def test_traversal_concept_to_passage_to_paper_returns_title_and_doi(kb, g, corpus):
    _sync(kb, g)
    concept_id, title, doi = kb.execute("""
        SELECT m.concept_id, d.title, d.doi FROM passage_concepts_canonical m
        JOIN passages p USING (passage_id) JOIN documents d USING (doc_id)
        WHERE m.passage_id = %s AND m.extractor_version = 'gemini_batch_v1' ORDER BY 1 LIMIT 1""",
                                          (corpus[2],)).fetchone()
    found = papers_of_concept(g, concept_id, limit=1000)
    assert {"title": title, "doi": doi} in [{"title": r["title"], "doi": r["doi"]} for r in found]
    assert all(r["title"] for r in found)


# ---- embedded-only: what the Bolt stand-in cannot do ------------------------------------------

def test_reads_run_read_only_and_a_write_is_refused(graph):
    """Embedded-only: the Bolt stand-in ignores the READ access mode Neo4j enforces."""
    graph.run("CREATE (:Probe {n: 1})")
    assert graph.records("MATCH (p:Probe) RETURN p.n AS n") == [{"n": 1}]
    with pytest.raises(GraphStatementError):
        graph.records("CREATE (:Probe {n: 2})")
    with pytest.raises(GraphStatementError):
        graph.records("MATCH (p:Probe) DETACH DELETE p")
    assert graph.records("MATCH (p:Probe) RETURN count(p) AS n") == [{"n": 1}]


def test_an_injection_title_is_stored_verbatim_and_changes_nothing_else(kb, graph, corpus):
    """Embedded-only: the Bolt stand-in splices parameters into the query text."""
    doc_id, title = kb.execute("SELECT doc_id::text, title FROM documents ORDER BY doc_id LIMIT 1").fetchone()
    hostile = "x', doc_id: 'HIJACK"
    kb.execute("UPDATE documents SET title = %s WHERE doc_id = %s", (hostile, doc_id))
    kb.execute("UPDATE documents SET title = %s WHERE doc_id <> %s AND doc_id IN "
               "(SELECT doc_id FROM documents ORDER BY doc_id LIMIT 2)", ("Alzheimer's disease and graph neural "
                                                                           "networks", doc_id))
    kb.commit()
    sync_shard(kb, graph, shard=None, shard_count=SHARDS, batch_size=BATCH)
    paper = graph.records("MATCH (d:Paper {title: $t}) RETURN d.doc_id AS doc_id, d.year AS year, d.doi AS doi",
                          t=hostile)
    row = kb.execute("SELECT year, doi FROM documents WHERE doc_id = %s", (doc_id,)).fetchone()
    assert paper == [{"doc_id": doc_id, "year": row[0], "doi": row[1]}]
    assert graph.records("MATCH (d:Paper {doc_id: 'HIJACK'}) RETURN count(d) AS n") == [{"n": 0}]
    assert graph.records("MATCH (d:Paper) WHERE d.title STARTS WITH 'Alzheimer' RETURN count(d) AS n") == [{"n": 1}]
    _ok(kb, graph)
    # A later title change travels through the change log.
    kb.execute("UPDATE documents SET title = %s WHERE doc_id = %s", (title, doc_id))
    kb.commit()
    sync_shard(kb, graph, shard=None, shard_count=SHARDS, batch_size=BATCH)
    assert graph.records("MATCH (d:Paper {doc_id: $d}) RETURN d.title AS t", d=doc_id) == [{"t": title}]
    _ok(kb, graph)


def test_one_statement_carries_any_size(kb, graph, corpus):
    """No per-message limit on the embedded adapter: a 10 KB concept name and a batch of
    hundreds of rows go in one statement each."""
    _insert(kb, [(corpus[0], "n" * 10_000, "method", 0.9, "gemini_batch_v1")])
    result = sync_shard(kb, graph, shard=None, shard_count=SHARDS, batch_size=5000)
    assert result.counts["passages"] == len(corpus)
    key = cypher.mention_key(1, "method", "n" * 10_000)
    assert len(key) < 100  # FalkorDB's index cannot find string values of a few KB
    for _ in range(2):  # a second sync finds the mention again: no duplicate
        assert graph.records("MATCH ()-[m:MENTIONS]->(c:Concept) WHERE size(m.surface) = 10000 "
                             "RETURN size(c.name) AS n, size(c.aliases[0]) AS alias") == [{"n": 10_000, "alias": 10_000}]
        _ok(kb, graph)
        sync_shard(kb, graph, shard=None, shard_count=SHARDS, batch_size=5000, full=True)


# ---- Neo4j adapter: managed transactions retry transient errors --------------------------------

def test_two_shard_syncs_at_once_retry_a_transient_error_instead_of_failing(kb_dsn, kb, neo4j_graph, corpus):
    """Two shards' syncs started at once, each on its own adapter (one shared driver pool);
    each first write attempt of a Concept MERGE fails with a TransientError, as Neo4j's
    DeadlockDetected would. The driver's managed transaction retries it; both succeed
    (one after the other: syncs hold the graph-sync advisory lock)."""
    from neo4j.exceptions import TransientError

    from polymath_assets.graph.neo4j_adapter import Neo4jGraph

    shards = [_shard_with_passages(kb, 0), _shard_with_passages(kb, 1)]
    kb.commit()
    failed: list[str] = []
    lock = threading.Lock()

    def deadlock_once(statement: str) -> None:
        if "MERGE (c:Concept" in statement:
            with lock:
                if statement not in failed:
                    failed.append(statement)
                    raise TransientError("ForsetiClient can't acquire ExclusiveLock (simulated deadlock)")

    results, errors = {}, []

    def run(shard: int) -> None:
        adapter = Neo4jGraph(neo4j_graph.driver, neo4j_graph.uri, neo4j_graph.database, owns_driver=False,
                             dialect=neo4j_graph.dialect)
        adapter.before_write = deadlock_once
        try:
            with psycopg.connect(kb_dsn) as conn:
                results[shard] = (sync_shard(conn, adapter, shard=shard, shard_count=SHARDS,
                                             batch_size=_batch(neo4j_graph)), adapter.write_attempts)
        except Exception as err:  # reported below with the shard
            errors.append((shard, err))

    threads = [threading.Thread(target=run, args=(s,)) for s in shards]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert failed, "the seam must have failed at least one attempt"
    for shard in shards:
        _ok(kb, neo4j_graph, shard)
    assert sum(attempts for _, attempts in results.values()) > 0


# ---- the Dagster asset ----------------------------------------------------------------------

def test_graph_asset_runs_in_the_graph_pool_and_takes_a_full_option(kb_dsn, kb, graph, graph_server, corpus):
    import dagster as dg

    from polymath_assets.definitions import defs
    from polymath_assets.defs.resources import GraphResource, PostgresResource
    from polymath_assets.shards import shard_key

    neo4j_concept_graph = next(a for a in defs.assets if a.key == dg.AssetKey("neo4j_concept_graph"))
    assert defs.resolve_asset_graph().get(dg.AssetKey("neo4j_concept_graph")).pools == {"graph"}
    shard = _shard_with_passages(kb)
    kb.commit()
    resources = {"postgres": PostgresResource(dsn_override=kb_dsn), "graph": GraphResource(uri_override=graph_server)}
    instance = dg.DagsterInstance.ephemeral()
    modes = []
    for run_config in (None, None, {"ops": {"neo4j_concept_graph": {"config": {"full": True}}}}):
        result = dg.materialize([neo4j_concept_graph], partition_key=shard_key(shard), resources=resources,
                                instance=instance, run_config=run_config)
        assert [c.passed for c in result.get_asset_check_evaluations()] == [True]
        modes.append(result.asset_materializations_for_node("neo4j_concept_graph")[0].metadata["mode"].value)
    assert modes == ["full (first sync of the shard)", "incremental", "full (requested)"]


def test_batched_deletes_take_whole_slices_until_none_is_left(g):
    g.run("UNWIND range(1, 25) AS i CREATE (:Probe {i: i})")
    assert g.delete_in_batches("MATCH (p:Probe) WHERE p.i > $above", "p", batch=4, above=5) == 20
    assert g.records("MATCH (p:Probe) RETURN count(p) AS n") == [{"n": 5}]
    assert "IN TRANSACTIONS OF 4 ROWS" in cypher.batched_delete(cypher.NEO4J, "MATCH (p:Probe)", "p", 4)
    with pytest.raises(ValueError):
        cypher.batched_delete(cypher.NEO4J, "MATCH (p)", "p) DETACH DELETE (q", 4)


def test_syncs_checks_and_traversals_send_only_statements_of_the_catalogue(kb, graph, corpus, monkeypatch):
    """The snapshot, the Neo4j parser and `make test-neo4j` check cypher.catalogue: whatever
    the sync, the reconciliation and the traversals send must be in it."""
    from polymath_assets.graph import graph_counts
    from polymath_assets.graph.traversal import concept_passage_paper

    sent: set[str] = set()
    for method in ("run", "records", "write_count", "run_in_transactions"):
        send = getattr(graph, method)

        def recording(statement, *args, _send=send, **params):
            sent.add(statement)
            return _send(statement, *args, **params)
        monkeypatch.setattr(graph, method, recording)
    shard = _shard_with_passages(kb)
    kb.commit()
    _sync(kb, graph)  # the first: full
    papers_of_concept(graph, kb.execute("SELECT min(concept_id) FROM concepts").fetchone()[0])
    concept_passage_paper(graph)
    graph_counts(graph, shard), graph_counts(graph, None)
    _ok(kb, graph, shard)
    forget_version(kb, "llm_v2", concepts=True)
    kb.commit()
    _sync(kb, graph)  # incremental: prunes, removes and deletes orphans by id
    _sync(kb, graph, full=True)  # full: batched deletes of what it did not write
    _ok(kb, graph)
    listed = set(cypher.catalogue(graph.dialect).values())
    assert sent and sent <= listed, sorted(sent - listed)
