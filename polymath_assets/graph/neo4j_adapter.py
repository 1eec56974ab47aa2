"""Neo4j 5 through the official driver (production: ``NEO4J_URI``).

Writes go through managed transactions (``session.execute_write``): the driver retries
a transaction that failed with a transient error — above all ``DeadlockDetected``, which
Neo4j raises by design when two transactions MERGE the same Concept nodes in opposite
orders (two shards' syncs at once) — for up to ``max_transaction_retry_time``. Every
statement of the sync is idempotent (MERGE, or a delete of what is gone), so a retry
is safe. Reads go through ``execute_read`` (READ access mode): a statement that would
write is refused by the server. Large deletes use ``CALL { … } IN TRANSACTIONS``, which
Neo4j only accepts in an auto-commit transaction; those are retried here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from neo4j import Driver, GraphDatabase, Query
from neo4j.exceptions import AuthError, DriverError, Neo4jError, ServiceUnavailable, SessionExpired

from polymath_assets.graph import cypher
from polymath_assets.graph.connection import (
    CONNECTION_TIMEOUT_S,
    GraphConnection,
    statement_error,
    unavailable,
)

MAX_RETRY_TIME_S = 30.0
AUTOCOMMIT_ATTEMPTS = 5

_COUNTERS = ("nodes_created", "nodes_deleted", "relationships_created", "relationships_deleted",
             "properties_set", "labels_added", "labels_removed", "indexes_added", "constraints_added")


def _counters(summary) -> dict[str, int]:
    counters = summary.counters
    return {name: getattr(counters, name) for name in _COUNTERS if getattr(counters, name)}


class Neo4jGraph(GraphConnection):
    kind = cypher.NEO4J

    def __init__(self, driver: Driver, uri: str, database: str | None = None, *, owns_driver: bool = True,
                 dialect: str = cypher.NEO4J):
        self.driver = driver
        # Always Neo4j in the product; the tests' Bolt stand-in (FalkorDB) needs its own
        # schema statements and batched deletes while exercising this adapter.
        self.dialect = dialect
        self.uri = uri
        self.database = database
        self.owns_driver = owns_driver
        # The retry seam: called at the start of every write attempt inside the managed
        # transaction, before the statement runs. Tests set it to raise a TransientError
        # once and see the driver retry the write.
        self.before_write: Callable[[str], None] | None = None
        self.write_attempts = 0

    def _session(self, **options):
        return self.driver.session(database=self.database, **options)

    def _guard(self, statement: str, work: Callable[[], Any]) -> Any:
        try:
            return work()
        except (ServiceUnavailable, SessionExpired, AuthError, OSError) as err:
            raise unavailable(self.uri, err) from err
        except Neo4jError as err:
            raise statement_error(self.uri, statement, err) from err

    def _write(self, statement: str, params: dict, outcome: Callable) -> Any:
        def write(tx):
            self.write_attempts += 1
            if self.before_write is not None:
                self.before_write(statement)
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
        transient error part-way is retried by running it again: it deletes only what is
        still there (schema statements say IF NOT EXISTS)."""
        def work():
            for attempt in range(1, AUTOCOMMIT_ATTEMPTS + 1):
                try:
                    with self._session() as session:
                        return _counters(session.run(Query(statement), params).consume())
                except Neo4jError as err:
                    if not err.is_retryable() or attempt == AUTOCOMMIT_ATTEMPTS:
                        raise
                    time.sleep(0.2 * 2 ** attempt)
            return {}

        return self._guard(statement, work)

    def run_schema(self, statement: str) -> None:
        self.run_in_transactions(statement)  # schema statements cannot share a transaction with writes

    def close(self) -> None:
        if self.owns_driver:
            self.driver.close()


def open_neo4j(uri: str, auth: tuple[str, str] | None, database: str | None) -> Neo4jGraph:
    """A driver (with its connection pool) for the process; fails at once, naming the URI,
    when the server cannot be reached (execute_* would retry for a while)."""
    driver = None
    try:
        driver = GraphDatabase.driver(uri, auth=auth, connection_timeout=CONNECTION_TIMEOUT_S,
                                      max_transaction_retry_time=MAX_RETRY_TIME_S)
        driver.verify_connectivity()
    except (DriverError, Neo4jError, ValueError, OSError) as err:
        if driver is not None:
            driver.close()
        raise unavailable(uri, err) from None
    return Neo4jGraph(driver, uri, database)
