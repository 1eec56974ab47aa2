"""Which servers the pipeline talks to, and starting the embedded ones.

``POSTGRES_DSN`` / ``NEO4J_URI`` name external servers; when they are set nothing
embedded starts for that component. Otherwise the embedded PostgreSQL and the embedded
graph server (FalkorDB on a unix socket) are started (idempotently) under ``POLYMATH_HOME``,
and with ``POLYMATH_OFFLINE`` the Gemini emulator too.

A server that is still loading its data (the graph's snapshot, PostgreSQL's crash
recovery after an unclean stop) is waited for, whatever the command: its progress goes
to stderr, a line every few seconds, and nothing shuts it down.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace

from polymath_assets.config import Config, redact_dsn
from polymath_assets.local import embedded_graph, embedded_postgres
from polymath_assets.local.state import Report, ServiceStatus


@dataclass(frozen=True)
class Endpoints:
    postgres_dsn: str
    graph_uri: str
    graph_auth: tuple[str, str] | None  # Neo4j only; the embedded server's URI names its password file
    graph_database: str | None
    emulator_url: str | None = None  # the offline Gemini emulator, when POLYMATH_OFFLINE


def to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def up(config: Config, report: Report = to_stderr) -> Endpoints:
    """Make sure PostgreSQL and the graph answer; start the embedded ones that are needed."""
    return endpoints(config, postgres_dsn(config, report), graph_uri(config, report))


def up_all(config: Config, report: Report = to_stderr) -> Endpoints:
    """What ``polymath services up`` starts: ``up``, and offline the Gemini emulator."""
    found = up(config, report)
    if not config.offline:
        return found
    from polymath_assets.local import emulator_service

    return replace(found, emulator_url=emulator_service.start(config.home))


def postgres_dsn(config: Config, report: Report = to_stderr) -> str:
    """The DSN to use: POSTGRES_DSN, or the embedded server's (started if needed)."""
    return config.postgres_dsn or embedded_postgres.start(config.home, report=report)


def graph_uri(config: Config, report: Report = to_stderr) -> str:
    """The graph URI to use: NEO4J_URI, or the embedded server's (started if needed)."""
    return config.neo4j_uri or embedded_graph.start(config.home, report=report)


def endpoints(config: Config, dsn: str, uri: str) -> Endpoints:
    external_graph = bool(config.neo4j_uri)
    auth = (config.neo4j_user, config.neo4j_password) if external_graph and config.neo4j_password else None
    return Endpoints(dsn, uri, auth, config.neo4j_database or None)


def down(config: Config, compact: bool = False) -> dict[str, str]:
    """Stop the embedded servers; external servers are never touched. ``compact``: fold the
    graph's whole append-only tail into its snapshot first (see embedded_graph.stop)."""
    result = {}
    result["postgres"] = "external (left running)" if config.postgres_dsn else (
        "stopped" if embedded_postgres.stop(config.home) else "was not running")
    result["graph"] = "external (left running)" if config.neo4j_uri else (
        "stopped" if embedded_graph.stop(config.home, compact=compact) else "was not running")
    from polymath_assets.local import emulator_service

    if emulator_service.stop(config.home):
        result["gemini-emulator"] = "stopped"
    return result


def status(config: Config) -> list[ServiceStatus]:
    if config.postgres_dsn:
        pg = ServiceStatus("postgres", "external", redact_dsn(config.postgres_dsn),
                           embedded_postgres.answers(config.postgres_dsn))
    else:
        pg = embedded_postgres.status(config.home)
    if config.neo4j_uri:
        auth = endpoints(config, "", config.neo4j_uri).graph_auth
        graph = ServiceStatus("graph", "external", config.neo4j_uri,
                              embedded_graph.answers(config.neo4j_uri, auth, config.neo4j_database or None))
    else:
        graph = embedded_graph.status(config.home)
    from polymath_assets.local import emulator_service

    emulator = emulator_service.status(config.home)
    return [pg, graph] + ([emulator] if emulator.answering or config.offline else [])


def batch_client(config: Config, offline: bool | None = None):
    """The Gemini batch client: the real API, or the offline emulator (started if needed)
    when ``offline`` (default: POLYMATH_OFFLINE)."""
    from polymath_assets.gemini.client import BatchClient
    from polymath_assets.local import emulator_service

    if offline if offline is not None else config.offline:
        url = emulator_service.start(config.home)
        return BatchClient("offline-emulator", base_url=url, provider="gemini-emulator",
                           timeout_s=config.gemini_timeout_s)
    return BatchClient(config.gemini_api_key, provider="gemini", timeout_s=config.gemini_timeout_s)
