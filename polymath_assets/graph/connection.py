"""One long-lived connection to the graph server: Neo4j 5 or the embedded FalkorDB.

Both speak Bolt and are driven by the official ``neo4j`` driver. Which one we talk to
decides a handful of schema statements, so it is detected once, when connecting.
FalkorDB 4.16 introduces itself with the agent string ``Neo4j/5.13.0``, so the agent
alone cannot tell them apart; a Neo4j-only procedure (``dbms.components``) settles it.

Statements run in auto-commit sessions (``session.run(...).consume()``), not through
``driver.execute_query``: the latter retries for a minute when the server is gone,
whereas an operator wants to hear at once that the graph is unreachable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from neo4j import Driver, GraphDatabase
from neo4j.exceptions import AuthError, DriverError, Neo4jError, ServiceUnavailable, SessionExpired

from polymath_assets.graph import cypher

CONNECTION_TIMEOUT_S = 10.0
EMBEDDED_HANDSHAKE_TIMEOUT_S = 5.0  # embedded server only: a swallowed handshake fails fast
EMBEDDED_ATTEMPTS = 3
# FalkorDB 4.16's Bolt listener segfaults the whole server on a RUN message of about
# 4 KiB or more (statement text + parameters; measured: 3.5 KB passes, 4 KB kills it).
# Statements to it are therefore split by size; see sync.chunk_rows. Neo4j has no limit.
FALKORDB_MAX_MESSAGE_BYTES = 3000


class GraphUnavailable(RuntimeError):
    """The graph server cannot be reached (or refused us); the message says what to do."""


class GraphStatementError(RuntimeError):
    """The server rejected a statement; the message names which one."""


def unavailable(uri: str, err: BaseException) -> GraphUnavailable:
    return GraphUnavailable(
        f"cannot reach the graph server at {uri}: {str(err).strip() or type(err).__name__}. "
        "Start the embedded server with `polymath services up`, or check NEO4J_URI "
        "(and NEO4J_USER / NEO4J_PASSWORD for Neo4j)."
    )


def connection_agent(connection: GraphConnection) -> str:
    """The server's agent string, retried like a statement on the embedded server."""
    for attempt in range(1, (EMBEDDED_ATTEMPTS if connection.settle else 1) + 1):
        try:
            return connection.driver.get_server_info().agent or ""
        except (ServiceUnavailable, SessionExpired, OSError):
            if attempt == EMBEDDED_ATTEMPTS or not connection.settle:
                raise
            connection.settle()
    return ""


def kind_from(agent: str, answers_neo4j_components: bool) -> str:
    """The server kind from its agent string and whether it answered dbms.components()."""
    if "falkor" in agent.lower():
        return cypher.FALKORDB
    return cypher.NEO4J if answers_neo4j_components else cypher.FALKORDB


@dataclass
class GraphConnection:
    """A driver, the database to use (None: the server default) and the server kind."""

    driver: Driver
    uri: str
    database: str | None = None
    kind: str = cypher.NEO4J
    owns_driver: bool = field(default=True, repr=False)
    # For the embedded server: clears its swallowed-handshake slot before a retry.
    settle: Callable[[], bool] | None = field(default=None, repr=False)

    @property
    def max_message_bytes(self) -> int | None:
        """Upper bound for one statement's text plus parameters (as JSON), or None."""
        return FALKORDB_MAX_MESSAGE_BYTES if self.kind == cypher.FALKORDB else None

    def run(self, statement: str, **params: Any) -> dict[str, int]:
        """Run a write; return its summary counters that are non-zero (e.g. nodes_created)."""
        summary = self._execute(statement, params, want_records=False)
        return _counters(summary)

    def records(self, statement: str, **params: Any) -> list[dict[str, Any]]:
        """Run a read; return its records as dicts."""
        return self._execute(statement, params, want_records=True)

    def _execute(self, statement: str, params: dict, *, want_records: bool):
        # Every statement here is idempotent (MERGE or a read), so the embedded server's
        # lost handshakes (a driver elsewhere said GOODBYE at the wrong moment) are retried.
        attempts = EMBEDDED_ATTEMPTS if self.settle else 1
        for attempt in range(1, attempts + 1):
            try:
                with self.driver.session(database=self.database) as session:
                    result = session.run(statement, params)
                    if want_records:
                        return [record.data() for record in result]
                    return result.consume()
            except (ServiceUnavailable, SessionExpired, OSError) as err:
                if attempt == attempts:
                    raise unavailable(self.uri, err) from err
                self.settle()
            except AuthError as err:
                raise unavailable(self.uri, err) from err
            except Neo4jError as err:
                head = " ".join(statement.split())[:120]
                raise GraphStatementError(f"graph server at {self.uri} rejected `{head}`: {err}") from err

    def close(self) -> None:
        if self.owns_driver:
            self.driver.close()

    def __enter__(self) -> "GraphConnection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _counters(summary) -> dict[str, int]:
    counters = summary.counters
    names = ("nodes_created", "nodes_deleted", "relationships_created", "relationships_deleted",
             "properties_set", "labels_added", "labels_removed", "indexes_added", "constraints_added")
    return {name: getattr(counters, name) for name in names if getattr(counters, name)}


def open_driver(uri: str, auth: tuple[str, str] | None = None, database: str | None = None) -> GraphConnection:
    """Connect to the graph at ``uri`` and detect its kind; raise GraphUnavailable if it
    cannot be reached. Use one per process (or per sync) and close it when done."""
    settle = None
    options = {}
    if auth is None:
        # Only the embedded server runs without auth. Its Bolt listener swallows the
        # first handshake after an earlier driver said GOODBYE; a bare probe clears that,
        # and a short handshake deadline turns a lost one into a quick retry, not 60 s.
        from polymath_assets.local.embedded_graph import settle_bolt

        settle = partial(settle_bolt, uri)
        settle()
        options["connection_acquisition_timeout"] = EMBEDDED_HANDSHAKE_TIMEOUT_S
    try:
        driver = GraphDatabase.driver(uri, auth=auth, connection_timeout=CONNECTION_TIMEOUT_S, **options)
    except (DriverError, ValueError) as err:
        raise unavailable(uri, err) from err
    try:
        connection = wrap_driver(driver, uri, database, owns_driver=True, settle=settle)
    except BaseException:
        driver.close()
        raise
    return connection


def wrap_driver(driver: Driver, uri: str, database: str | None = None, *, owns_driver: bool = False,
                settle: Callable[[], bool] | None = None) -> GraphConnection:
    """A GraphConnection around a driver opened elsewhere (e.g. a test fixture)."""
    connection = GraphConnection(driver, uri, database, cypher.NEO4J, owns_driver, settle)
    try:
        agent = connection_agent(connection)
    except (DriverError, Neo4jError, OSError) as err:
        raise unavailable(uri, err) from err
    try:
        connection.records(cypher.NEO4J_COMPONENTS)
        answered = True
    except GraphStatementError:
        answered = False
    connection.kind = kind_from(agent, answered)
    return connection
