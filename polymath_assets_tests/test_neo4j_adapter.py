"""The Neo4j adapter on a cluster's terms: reads in a new session see the writes before them
(one shared bookmark manager), retryable errors — the driver's own ``SessionExpired`` as
much as a server's ``TransientError`` — are retried, and one still failing when the budget
is spent is reported as "unavailable", not as a rejected statement. The dialect follows the
server's version.

Run against the Bolt stand-in in ``make test``, and against a real Neo4j by ``make
test-neo4j`` (every test here has "neo4j" in its module name, which that target selects).
The stand-in sends no bookmarks, so there the manager is checked by what it was asked;
against a real server the write's bookmark must be in it, too.
"""

from __future__ import annotations

import threading

import pytest
from neo4j import GraphDatabase
from neo4j.api import BookmarkManager
from neo4j.exceptions import ClientError, SessionExpired, TransientError

from polymath_assets.graph import GraphStatementError, GraphUnavailable, cypher
from polymath_assets.graph.neo4j_adapter import Neo4jGraph, open_neo4j
from polymath_assets_tests import bolt_graph


class RecordingBookmarks(BookmarkManager):
    """The driver's bookmark manager, with a log of who asked it what, in order."""

    def __init__(self):
        self.inner = GraphDatabase.bookmark_manager()
        self.log: list[tuple[str, frozenset]] = []
        self._lock = threading.Lock()

    def update_bookmarks(self, previous_bookmarks, new_bookmarks) -> None:
        with self._lock:
            self.inner.update_bookmarks(previous_bookmarks, new_bookmarks)
            self.log.append(("update", frozenset(new_bookmarks)))

    def get_bookmarks(self):
        with self._lock:
            found = self.inner.get_bookmarks()
            self.log.append(("get", frozenset(found)))
            return found


def _sibling(g: Neo4jGraph, **options) -> Neo4jGraph:
    """Another adapter on the same driver, as a second shard's sync in the same process gets."""
    return Neo4jGraph(g.driver, g.uri, g.database, owns_driver=False, dialect=g.dialect, **options)


def _real_server(g: Neo4jGraph) -> bool:
    return g.dialect in cypher.NEO4J_DIALECTS


def test_a_read_in_a_new_session_sees_the_write_before_it_through_the_shared_bookmark_manager(neo4j_graph):
    bookmarks = RecordingBookmarks()
    writer = _sibling(neo4j_graph, bookmark_manager=bookmarks)
    reader = _sibling(neo4j_graph, bookmark_manager=bookmarks)
    writer.run(cypher.CREATE_EPOCH, epoch="e-1")
    during_write = list(bookmarks.log)
    assert reader.records(cypher.READ_EPOCH) == [{"epoch": "e-1"}]
    during_read = bookmarks.log[len(during_write):]
    # Each session starts from the manager's bookmarks: the write's, then the read's.
    assert [kind for kind, _ in during_write if kind == "get"], "the write's session must use the shared manager"
    assert [kind for kind, _ in during_read if kind == "get"], "the read's new session must use the shared manager"
    if _real_server(neo4j_graph):  # the stand-in hands out no bookmarks; a real Neo4j must
        handed = [marks for kind, marks in during_write if kind == "update"]
        assert handed and handed[-1], "the write's commit must hand its bookmark to the manager"
        asked = [marks for kind, marks in during_read if kind == "get"][0]
        assert handed[-1] <= asked, "the read must start from the write's bookmark"


def test_adapters_on_one_driver_share_its_bookmark_manager_by_default(neo4j_graph):
    one, two = _sibling(neo4j_graph), _sibling(neo4j_graph)
    assert one.bookmark_manager is two.bookmark_manager is neo4j_graph.driver.execute_query_bookmark_manager
    one.run(cypher.CREATE_EPOCH, epoch="e-2")
    assert two.records(cypher.READ_EPOCH) == [{"epoch": "e-2"}]


def _fail_first(error: Exception, times: int = 1):
    failures = []

    def seam(statement: str) -> None:
        if len(failures) < times:
            failures.append(statement)
            raise error
    return seam, failures


def test_an_injected_session_expired_is_retried_in_managed_and_auto_commit_writes(neo4j_graph):
    adapter = _sibling(neo4j_graph)
    adapter.before_write, failures = _fail_first(SessionExpired("leader switched (injected)"))
    adapter.run("UNWIND $rows AS row MERGE (:Probe {i: row})", rows=[1, 2])
    assert len(failures) == 1 and adapter.write_attempts == 2
    adapter.before_write, failures = _fail_first(SessionExpired("leader switched (injected)"))
    adapter.write_attempts = 0
    adapter.run_in_transactions("UNWIND $rows AS row MERGE (:Probe {i: row})", rows=[3])
    assert len(failures) == 1 and adapter.write_attempts == 2
    assert adapter.records("MATCH (p:Probe) RETURN count(p) AS n") == [{"n": 3}]


@pytest.mark.parametrize("path", ["managed", "auto-commit"])
def test_a_transient_error_still_failing_after_the_budget_is_reported_unavailable(neo4j_graph, path):
    adapter = _sibling(neo4j_graph, retry_time_s=1.0)
    adapter.before_write, _ = _fail_first(TransientError("ForsetiClient can't acquire ExclusiveLock (injected)"),
                                          times=1_000)
    write = adapter.run if path == "managed" else adapter.run_in_transactions
    with pytest.raises(GraphUnavailable) as err:
        write("MERGE (:Probe {i: 1})")
    assert "still failing after 1 s of retries" in str(err.value) and "TransientError" in str(err.value)
    assert adapter.write_attempts >= 2, "it must have been retried before giving up"
    assert adapter.records("MATCH (p:Probe) RETURN count(p) AS n") == [{"n": 0}]


def test_an_error_that_is_not_retryable_names_the_statement_at_once(neo4j_graph):
    adapter = _sibling(neo4j_graph)
    adapter.before_write, _ = _fail_first(ClientError("Neo.ClientError.Statement.SyntaxError (injected)"), times=10)
    with pytest.raises(GraphStatementError, match=r"rejected `MERGE \(:Probe"):
        adapter.run("MERGE (:Probe {i: 1})")
    assert adapter.write_attempts == 1


def test_open_neo4j_takes_its_dialect_from_the_server_agent(real_neo4j, request):
    """The stand-in says it is Neo4j 5.13 (the early dialect); a real 5.26 the current one."""
    if real_neo4j is not None:
        assert real_neo4j.dialect == cypher.neo4j_dialect(real_neo4j.driver.get_server_info().agent)
        return
    port = request.getfixturevalue("bolt_server")[1]
    bolt_graph.settle(port)
    try:
        with open_neo4j(f"bolt://127.0.0.1:{port}", None, None) as graph:
            assert graph.driver.get_server_info().agent.startswith("Neo4j/5.13")
            assert graph.dialect == cypher.NEO4J_5_EARLY
    finally:
        bolt_graph.settle(port)  # the stand-in swallows the handshake after a GOODBYE


@pytest.mark.parametrize("agent, dialect", [
    ("Neo4j/5.26.0", cypher.NEO4J), ("Neo4j/5.23.0", cypher.NEO4J), ("Neo4j/2025.01.0", cypher.NEO4J),
    ("Neo4j/5.22.0", cypher.NEO4J_5_EARLY), ("Neo4j/5.13.0", cypher.NEO4J_5_EARLY), ("neo4j/5.1", cypher.NEO4J_5_EARLY),
    ("SomethingElse/1.0", cypher.NEO4J), ("", cypher.NEO4J),
])
def test_dialect_of_an_agent(agent, dialect):
    assert cypher.neo4j_dialect(agent) == dialect


def test_batched_deletes_use_the_scoped_subquery_from_5_23_only():
    match = "MATCH (p:Passage {shard: $shard}) WHERE p.synced_at < $synced_at"
    assert cypher.batched_delete(cypher.NEO4J, match, "p", 7).endswith(
        "CALL (p) { DETACH DELETE p } IN TRANSACTIONS OF 7 ROWS")
    assert cypher.batched_delete(cypher.NEO4J_5_EARLY, match, "p", 7).endswith(
        "CALL { WITH p DETACH DELETE p } IN TRANSACTIONS OF 7 ROWS")
    assert "CALL" not in cypher.batched_delete(cypher.FALKORDB, match, "p", 7)
