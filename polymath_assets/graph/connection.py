"""The graph port: one interface, two adapters, chosen by the URI.

- ``bolt://``, ``neo4j://`` (and their ``+s``/``+ssc`` forms): Neo4j 5 through the official
  ``neo4j`` driver (production, ``NEO4J_URI``); see ``graph.neo4j_adapter``.
- ``falkordb+unix:///path/to/graph.sock?password_file=/path``: FalkorDB through its own
  protocol and the ``falkordb`` client (the embedded default); see ``graph.falkordb_adapter``.

Both run the same Cypher statements (``graph.cypher``); what differs between the servers
(schema statements, batched deletes) is switched on ``kind`` in ``cypher`` alone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

FALKORDB_SCHEME = "falkordb+unix"
NEO4J_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")
CONNECTION_TIMEOUT_S = 10.0


class GraphUnavailable(RuntimeError):
    """The graph server cannot be reached (or refused us); the message says what to do."""


class GraphStatementError(RuntimeError):
    """The server rejected a statement; the message names which one."""


def unavailable(uri: str, err: BaseException | str) -> GraphUnavailable:
    text = err if isinstance(err, str) else (str(err).strip() or type(err).__name__)
    return GraphUnavailable(
        f"cannot reach the graph server at {uri}: {text}. "
        "Start the embedded server with `polymath services up`, or check NEO4J_URI "
        "(and NEO4J_USER / NEO4J_PASSWORD for Neo4j)."
    )


def statement_error(uri: str, statement: str, err: BaseException) -> GraphStatementError:
    head = " ".join(statement.split())[:120]
    return GraphStatementError(f"graph server at {uri} rejected `{head}`: {err}")


class GraphConnection(ABC):
    """What the sync, the checks and the CLI need from a graph server."""

    kind: str     # the adapter: cypher.NEO4J or cypher.FALKORDB
    dialect: str  # whose schema statements and batched deletes to use (cypher.NEO4J_DIALECTS, FALKORDB)
    uri: str      # for messages; never holds a secret

    @abstractmethod
    def run(self, statement: str, **params: Any) -> dict[str, int]:
        """Run a write (retried on transient errors where the server has them); return
        its non-zero summary counters (nodes_created, relationships_deleted, ...)."""

    @abstractmethod
    def records(self, statement: str, **params: Any) -> list[dict[str, Any]]:
        """Run a statement read-only and return its records as dicts; a statement that
        would write is refused by the server (GraphStatementError)."""

    @abstractmethod
    def write_count(self, statement: str, **params: Any) -> int:
        """Run a write that returns one number (its first column of its first record)."""

    def run_schema(self, statement: str) -> None:
        self.run(statement)

    def run_in_transactions(self, statement: str, **params: Any) -> dict[str, int]:
        raise NotImplementedError(f"{type(self).__name__} cannot run CALL {{ }} IN TRANSACTIONS")

    def ensure_schema(self) -> list[str]:
        """Create the missing lookup indexes / uniqueness constraints; return what ran."""
        from polymath_assets.graph import cypher

        if self.dialect in cypher.NEO4J_DIALECTS:
            statements = cypher.neo4j_schema()  # IF NOT EXISTS: safe to run every time
        else:
            present = {(r["label"], prop) for r in self.records(cypher.FALKORDB_LIST_INDEXES)
                       for prop in r["properties"]}
            statements = [cypher.falkordb_index(label, prop) for label, prop in cypher.INDEXED
                          if (label, prop) not in present]
        for statement in statements:
            self.run_schema(statement)
        return statements

    def delete_in_batches(self, match: str, var: str, batch: int | None = None, **params: Any) -> int:
        """DETACH DELETE every ``var`` that ``match`` finds, in bounded transactions;
        return how many were deleted."""
        from polymath_assets.graph import cypher

        batch = batch or cypher.DELETE_BATCH
        statement = cypher.batched_delete(self.dialect, match, var, batch)
        if self.dialect in cypher.NEO4J_DIALECTS:
            return self.run_in_transactions(statement, **params).get("nodes_deleted", 0)
        deleted = 0
        while True:  # each LIMITed statement is one transaction; stop at a short slice
            n = self.write_count(statement, **params)
            deleted += n
            if n < batch:
                return deleted

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> "GraphConnection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def falkordb_uri(socket_path: str, password_file: str) -> str:
    """The URI of a FalkorDB socket; it names the password *file*, never the password."""
    return f"{FALKORDB_SCHEME}://{quote(socket_path)}?password_file={quote(password_file, safe='/')}"


def parse_falkordb_uri(uri: str) -> tuple[str, str | None]:
    """(socket path, password file or None) of a falkordb+unix URI."""
    parts = urlsplit(uri)
    files = parse_qs(parts.query).get("password_file")
    return unquote(parts.path), files[0] if files else None


def open_graph(uri: str, auth: tuple[str, str] | None = None, database: str | None = None) -> GraphConnection:
    """Connect to the graph at ``uri``; raise GraphUnavailable if it cannot be reached or
    the URI names no known server. Use one per process (or per sync) and close it."""
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme == FALKORDB_SCHEME:
        from polymath_assets.graph.falkordb_adapter import open_falkordb

        return open_falkordb(uri)
    if scheme in NEO4J_SCHEMES:
        from polymath_assets.graph.neo4j_adapter import open_neo4j

        return open_neo4j(uri, auth, database)
    raise unavailable(uri, f"unknown URI scheme {scheme or '(none)'!r}; expected bolt://, neo4j:// "
                           f"or {FALKORDB_SCHEME}://")
