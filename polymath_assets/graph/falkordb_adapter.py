"""The embedded default: FalkorDB over its own protocol (a unix socket, a password),
through the ``falkordb`` client.

Parameters travel in the command's parameter header (``CYPHER name=value ... <query>``),
which the server parses as literals: strings are double-quoted with backslash and quote
escaped — exactly as the ``falkordb`` client does — so they are data, whatever they contain
(tested with arbitrary unicode in test_graph_params). The header is built here by
``parameter_header``, a faster equivalent of the client's generic encoder (a third of a
large sync's time went there). There is no message-size limit to split around.

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


def literal(value: Any) -> str:
    """A parameter value as a FalkorDB Cypher literal (strings quoted and escaped)."""
    kind = type(value)
    if kind is str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        return repr(value)
    if kind is dict:
        return "{" + ",".join(f"`{_key(k)}`:{literal(v)}" for k, v in value.items()) + "}"
    if kind is list or kind is tuple:
        return "[" + ",".join(map(literal, value)) + "]"
    from falkordb.helpers import stringify_param_value

    return stringify_param_value(value)


def _key(name: Any) -> str:
    name = str(name)
    if not name or "`" in name:
        raise ValueError(f"{name!r} cannot be a Cypher map key")
    return name


def parameter_header(params: dict[str, Any]) -> str:
    """``CYPHER name=value ... `` (empty without parameters), to put before the query."""
    if not params:
        return ""
    return "CYPHER " + " ".join(f"{_key(name)}={literal(value)}" for name, value in params.items()) + " "


class FalkorDBGraph(GraphConnection):
    kind = dialect = cypher.FALKORDB

    def __init__(self, client, uri: str, graph_name: str = GRAPH_NAME):
        self.client = client
        self.uri = uri
        self.graph = client.select_graph(graph_name)

    def _query(self, statement: str, params: dict, *, read_only: bool):
        from redis.exceptions import AuthenticationError, ConnectionError, ResponseError, TimeoutError

        text = parameter_header(params) + statement
        try:
            if read_only:
                try:
                    return self.graph.ro_query(text)
                except ResponseError as err:
                    if "empty key" not in str(err):
                        raise
                    # GRAPH.RO_QUERY refuses a graph that does not exist yet; a write query
                    # creates the (empty) graph, then the read runs as asked.
                    self.graph.query("RETURN 1")
                    return self.graph.ro_query(text)
            return self.graph.query(text)
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

    def rebuild_indexes(self, labels: set[str]) -> list[str]:
        """Drop every index field of these labels and create them again (see
        cypher.ZERO_VALUED_LABELS); return the labels rebuilt. The server builds them in the
        background (``indexes_building``); meanwhile queries scan the label: right, only
        slower. A label's fields all go: dropping one of several fields rebuilds nothing of
        the others, and the gap stays."""
        redo = [(row["label"], prop) for row in self.records(cypher.FALKORDB_LIST_INDEXES)
                if row["label"] in labels for prop in row["properties"]]
        for label, prop in redo:
            self.run_schema(cypher.falkordb_drop_index(label, prop))
        for label, prop in redo:
            self.run_schema(cypher.falkordb_index(label, prop))
        return sorted({label for label, _ in redo})

    def indexes_building(self, labels: set[str]) -> dict[str, str]:
        """label -> the server's state of its index, for those of ``labels`` not operational yet."""
        return {row["label"]: row["status"] for row in self.records(cypher.FALKORDB_LIST_INDEXES)
                if row["label"] in labels and row["status"] != "OPERATIONAL"}

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
