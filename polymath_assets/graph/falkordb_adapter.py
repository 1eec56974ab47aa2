"""The embedded default: FalkorDB over its own protocol (a unix socket, a password),
through the ``falkordb`` client.

Parameters travel in the command's parameter header, which the client quotes and the
server parses as literals: they are data, whatever they contain (tested with arbitrary
unicode in test_graph_params). There is no message-size limit to split around.

FalkorDB runs one query at a time per graph, each atomically: two syncs writing the same
Concept at once are serialized by the server, so there is nothing to deadlock or retry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polymath_assets.graph import cypher
from polymath_assets.graph.connection import (
    GraphConnection,
    parse_falkordb_uri,
    statement_error,
    unavailable,
)

GRAPH_NAME = "polymath"
SOCKET_TIMEOUT_S = 600.0  # one UNWIND batch of a large sync may take seconds; a dead server fails at once

# The client's statistics (floats) under the names the neo4j driver uses.
_COUNTERS = {"nodes_created": "nodes_created", "nodes_deleted": "nodes_deleted",
             "relationships_created": "relationships_created", "relationships_deleted": "relationships_deleted",
             "properties_set": "properties_set", "labels_added": "labels_added", "indices_created": "indexes_added"}


class FalkorDBGraph(GraphConnection):
    kind = dialect = cypher.FALKORDB

    def __init__(self, client, uri: str, graph_name: str = GRAPH_NAME):
        self.client = client
        self.uri = uri
        self.graph = client.select_graph(graph_name)

    def _query(self, statement: str, params: dict, *, read_only: bool):
        from redis.exceptions import AuthenticationError, ConnectionError, ResponseError, TimeoutError

        try:
            if read_only:
                try:
                    return self.graph.ro_query(statement, params or None)
                except ResponseError as err:
                    if "empty key" not in str(err):
                        raise
                    # GRAPH.RO_QUERY refuses a graph that does not exist yet; a write query
                    # creates the (empty) graph, then the read runs as asked.
                    self.graph.query("RETURN 1")
                    return self.graph.ro_query(statement, params or None)
            return self.graph.query(statement, params or None)
        except (ConnectionError, TimeoutError, AuthenticationError, OSError) as err:
            raise unavailable(self.uri, err) from err
        except ResponseError as err:
            raise statement_error(self.uri, statement, err) from err

    def run(self, statement: str, **params: Any) -> dict[str, int]:
        result = self._query(statement, params, read_only=False)
        found = {name: int(getattr(result, attr)) for attr, name in _COUNTERS.items()}
        return {name: value for name, value in found.items() if value}

    def records(self, statement: str, **params: Any) -> list[dict[str, Any]]:
        result = self._query(statement, params, read_only=True)
        names = [column[1] for column in result.header]
        return [dict(zip(names, row)) for row in result.result_set]

    def write_count(self, statement: str, **params: Any) -> int:
        result = self._query(statement, params, read_only=False)
        return int(result.result_set[0][0]) if result.result_set else 0

    def close(self) -> None:
        try:
            self.client.connection.close()
        except Exception:  # closing a connection to a server that is gone is not an error
            pass


def open_falkordb(uri: str, graph_name: str = GRAPH_NAME) -> FalkorDBGraph:
    from falkordb import FalkorDB
    from redis.exceptions import RedisError

    socket_path, password_file = parse_falkordb_uri(uri)
    try:
        password = Path(password_file).read_text().strip() if password_file else None
    except OSError as err:
        raise unavailable(uri, f"cannot read the graph password file: {err.strerror}") from None
    try:
        client = FalkorDB(unix_socket_path=socket_path, password=password, socket_timeout=SOCKET_TIMEOUT_S,
                          socket_connect_timeout=5.0)
        client.connection.ping()
    except (RedisError, OSError) as err:
        raise unavailable(uri, err) from None
    return FalkorDBGraph(client, uri, graph_name)
