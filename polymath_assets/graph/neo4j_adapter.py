"""Neo4j 5 through the official driver (production: ``NEO4J_URI``).

Writes go through managed transactions (``session.execute_write``): the driver retries a
transaction whose error says ``is_retryable()`` for up to ``retry_time_s`` — a
``TransientError`` (above all ``DeadlockDetected``, which Neo4j raises by design when two
transactions MERGE the same Concept nodes in opposite orders: two shards' syncs at once)
and the driver's own ``SessionExpired`` / ``ServiceUnavailable`` (a cluster's leader
switch, a dropped connection). Every statement of the sync is idempotent (MERGE, or a
delete of what is gone), so a retry is safe. Reads go through ``execute_read`` (READ
access mode): a statement that would write is refused by the server. Large deletes use
``CALL { … } IN TRANSACTIONS``, which Neo4j only accepts in an auto-commit transaction,
which the driver never retries: those are retried here on the same rule and budget.

Every session shares one bookmark manager (by default the driver's, so all adapters on one
driver share it): a READ session opened after a write waits until the cluster member it
reads from has that write. Without it a lagging replica answers the sync's read-back of
the epoch marker, or the reconciliation right after a sync, with what was there before.

An error still retryable when the budget is spent means the server is unavailable
(``GraphUnavailable``), not that it rejected the statement (``GraphStatementError``).
The dialect follows the server's version (``cypher.neo4j_dialect`` of its agent string).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from neo4j import Driver, GraphDatabase, Query
from neo4j.api import BookmarkManager
from neo4j.exceptions import AuthError, DriverError, IncompleteCommit, Neo4jError

from polymath_assets.graph import cypher
from polymath_assets.graph.connection import (
    CONNECTION_TIMEOUT_S,
    GraphConnection,
    statement_error,
    unavailable,
)

MAX_RETRY_TIME_S = 30.0  # the driver's default budget for managed transactions, and ours for auto-commit
AUTOCOMMIT_FIRST_DELAY_S = 0.5
AUTOCOMMIT_MAX_DELAY_S = 8.0

_COUNTERS = ("nodes_created", "nodes_deleted", "relationships_created", "relationships_deleted",
             "properties_set", "labels_added", "labels_removed", "indexes_added", "constraints_added")


def _counters(summary) -> dict[str, int]:
    counters = summary.counters
    return {name: getattr(counters, name) for name in _COUNTERS if getattr(counters, name)}


class Neo4jGraph(GraphConnection):
    kind = cypher.NEO4J

    def __init__(self, driver: Driver, uri: str, database: str | None = None, *, owns_driver: bool = True,
                 dialect: str = cypher.NEO4J, bookmark_manager: BookmarkManager | None = None,
                 retry_time_s: float = MAX_RETRY_TIME_S):
        self.driver = driver
        # The server's dialect in the product (see open_neo4j); the tests' Bolt stand-in
        # (FalkorDB) needs its own schema statements and batched deletes while exercising
        # this adapter.
        self.dialect = dialect
        self.uri = uri
        self.database = database
        self.owns_driver = owns_driver
        self.bookmark_manager = (bookmark_manager if bookmark_manager is not None
                                 else driver.execute_query_bookmark_manager)
        self.retry_time_s = retry_time_s
        # The retry seam: called at the start of every write attempt (inside the managed
        # transaction, or before an auto-commit statement), before the statement runs.
        # Tests set it to raise a TransientError or SessionExpired and see the write retried.
        self.before_write: Callable[[str], None] | None = None
        self.write_attempts = 0

    def _session(self, **options):
        return self.driver.session(database=self.database, bookmark_manager=self.bookmark_manager,
                                   max_transaction_retry_time=self.retry_time_s, **options)

    def _attempt(self, statement: str) -> None:
        self.write_attempts += 1
        if self.before_write is not None:
            self.before_write(statement)

    def _guard(self, statement: str, work: Callable[[], Any]) -> Any:
        try:
            return work()
        except (AuthError, OSError) as err:
            raise unavailable(self.uri, err) from err
        except (Neo4jError, DriverError) as err:
            if err.is_retryable():
                raise unavailable(self.uri, f"{_describe(err)}; still failing after {self.retry_time_s:g} s "
                                            "of retries") from err
            if isinstance(err, IncompleteCommit):
                raise unavailable(self.uri, f"{_describe(err)}; the connection was lost while committing "
                                            "(every statement is idempotent: running again is safe)") from err
            if isinstance(err, Neo4jError):
                raise statement_error(self.uri, statement, err) from err
            raise

    def _write(self, statement: str, params: dict, outcome: Callable) -> Any:
        def write(tx):
            self._attempt(statement)
            return outcome(tx.run(statement, params))

        def work():
            with self._session() as session:
                return session.execute_write(write)

        return self._guard(statement, work)

    def run(self, statement: str, **params: Any) -> dict[str, int]:
        return self._write(statement, params, lambda result: _counters(result.consume()))

    def write_count(self, statement: str, **params: Any) -> int:
        return self._write(statement, params, lambda result: int(result.single(strict=True)[0]))

    def records(self, statement: str, **params: Any) -> list[dict[str, Any]]:
        def read(tx):
            return [record.data() for record in tx.run(statement, params)]

        def work():
            with self._session(default_access_mode="READ") as session:
                return session.execute_read(read)

        return self._guard(statement, work)

    def run_in_transactions(self, statement: str, **params: Any) -> dict[str, int]:
        """An auto-commit statement: for ``CALL { } IN TRANSACTIONS`` (which Neo4j only
        accepts in one) and schema statements. Such a statement commits in slices, so a
        retryable error part-way is retried by running it again: it deletes only what is
        still there (schema statements say IF NOT EXISTS)."""
        def attempt():
            self._attempt(statement)
            with self._session() as session:
                return _counters(session.run(Query(statement), params).consume())

        return self._guard(statement, lambda: self._retried(attempt))

    def _retried(self, attempt: Callable[[], Any]) -> Any:
        """Run ``attempt`` again while its error says ``is_retryable()``, with doubling
        delays, for at most ``retry_time_s`` after the first failure (the driver's rule for
        managed transactions)."""
        first_failure, delay = None, AUTOCOMMIT_FIRST_DELAY_S
        while True:
            try:
                return attempt()
            except (Neo4jError, DriverError) as err:
                now = time.monotonic()
                first_failure = now if first_failure is None else first_failure
                if not err.is_retryable() or now - first_failure + delay > self.retry_time_s:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, AUTOCOMMIT_MAX_DELAY_S)

    def run_schema(self, statement: str) -> None:
        self.run_in_transactions(statement)  # schema statements cannot share a transaction with writes

    def close(self) -> None:
        if self.owns_driver:
            self.driver.close()


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {str(err).strip() or 'no message'}"


def open_neo4j(uri: str, auth: tuple[str, str] | None, database: str | None) -> Neo4jGraph:
    """A driver (with its connection pool) for the process; fails at once, naming the URI,
    when the server cannot be reached (execute_* would retry for a while). Asking for the
    server's agent checks the connection and tells the dialect."""
    driver = None
    try:
        driver = GraphDatabase.driver(uri, auth=auth, connection_timeout=CONNECTION_TIMEOUT_S,
                                      max_transaction_retry_time=MAX_RETRY_TIME_S)
        agent = driver.get_server_info().agent
    except (DriverError, Neo4jError, ValueError, OSError) as err:
        if driver is not None:
            driver.close()
        raise unavailable(uri, err) from None
    return Neo4jGraph(driver, uri, database, dialect=cypher.neo4j_dialect(agent))
