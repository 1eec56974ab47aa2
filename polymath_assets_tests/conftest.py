"""Real services for the tests: one embedded PostgreSQL and one embedded graph server
(FalkorDB on a unix socket) per test session, a fresh database (cloned from a migrated
template) per test, and an emptied graph per test that asks for it. Tests of the Neo4j
adapter get a Bolt server started for the session when first asked for (``neo4j_graph``).

The session gets its own POLYMATH_HOME in a temporary folder, set before any test module
imports the package, so nothing touches the developer's ./var.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="polymath-test-"))
os.environ["POLYMATH_HOME"] = str(_SESSION_HOME)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["POLYMATH_ENV_FILE"] = str(_SESSION_HOME / "no-env-file")  # a demo's polymath.env must not leak in
os.environ["POLYMATH_RUNLOG_DIR"] = str(_SESSION_HOME / "runlogs")
for _name in ("POSTGRES_DSN", "NEO4J_URI", "GEMINI_API_KEY", "GOOGLE_API_KEY", "POLYMATH_SHARD_COUNT"):
    os.environ.pop(_name, None)

import psycopg  # noqa: E402
import pytest  # noqa: E402

from polymath_assets.config import Config  # noqa: E402
from polymath_assets.kb.migrate import migrate  # noqa: E402
from polymath_assets.local import embedded_graph, embedded_postgres  # noqa: E402

TEMPLATE_DB = "polymath_template"


def _with_database(dsn: str, name: str) -> str:
    base, _, query = dsn.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


@pytest.fixture(scope="session")
def config() -> Config:
    return Config.from_env()


@pytest.fixture(scope="session")
def pg_server(config):
    """DSN of the session's embedded server (admin database); a migrated template database."""
    dsn = embedded_postgres.start(config.home)
    admin = _with_database(dsn, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"')
        conn.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
    with psycopg.connect(_with_database(dsn, TEMPLATE_DB)) as conn:
        migrate(conn, embedding_dim=config.embedding_dim, shard_count=config.shard_count,
                merge_preference=config.merge_preference, confidence_floor=config.confidence_floor)
    yield admin
    embedded_postgres.stop(config.home)


@pytest.fixture
def new_database(pg_server):
    """Factory for empty (unmigrated) databases, dropped after the test."""
    created = []

    def make(template: str = "template0") -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        created.append(name)
        return _with_database(pg_server, name)

    yield make
    with psycopg.connect(pg_server, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def kb_dsn(new_database) -> str:
    """A fresh, fully migrated knowledge-base database for one test."""
    return new_database(TEMPLATE_DB)


@pytest.fixture(scope="session")
def minilm_names():
    """The name encoder of canonical concepts on the packaged small model (384-d, CPU),
    loaded once per session."""
    from polymath_assets.concepts.names import name_encoder

    return name_encoder(Config.from_env({"POLYMATH_EMBEDDING_MODEL": "packaged-minilm"}), device="cpu")


@pytest.fixture
def migrated_database(new_database, config):
    """Factory for fresh databases migrated with another embedding dimension or shard count."""
    def make(embedding_dim: int | None = None, shard_count: int | None = None) -> str:
        dsn = new_database()
        with psycopg.connect(dsn) as conn:
            migrate(conn, embedding_dim=embedding_dim or config.embedding_dim,
                    shard_count=shard_count or config.shard_count, merge_preference=config.merge_preference,
                    confidence_floor=config.confidence_floor)
        return dsn

    return make


@pytest.fixture
def dsn384(migrated_database) -> str:
    """A fresh database migrated for 384-d vectors (the packaged small model)."""
    return migrated_database(embedding_dim=384)


@pytest.fixture
def kb(kb_dsn):
    with psycopg.connect(kb_dsn) as conn:
        yield conn


@pytest.fixture(scope="session")
def graph_server(config):
    """URI of the session's embedded graph server (falkordb+unix://...)."""
    uri = embedded_graph.start(config.home)
    yield uri
    embedded_graph.stop(config.home)


@pytest.fixture
def graph(graph_server):
    """The embedded graph, emptied, through the product's own adapter (GraphConnection)."""
    from polymath_assets.graph.connection import open_graph

    with open_graph(graph_server) as connection:
        connection.run("MATCH (n) DETACH DELETE n")
        yield connection


@pytest.fixture(scope="session")
def bolt_server(config):
    """(pid, port) of a FalkorDB Bolt listener for the Neo4j adapter's tests only (see
    bolt_graph for its defects); started on first use, stopped with the session."""
    from polymath_assets.local.state import terminate
    from polymath_assets_tests import bolt_graph

    pid, port = bolt_graph.start(config.home / "bolt-graph")
    yield pid, port
    terminate(pid, timeout_s=10)


@pytest.fixture(scope="session")
def bolt_driver(bolt_server):
    """One official neo4j driver (one pooled connection) for the session: a fresh driver
    per test would meet the Bolt listener's swallowed handshakes."""
    from neo4j import GraphDatabase

    from polymath_assets_tests import bolt_graph

    bolt_graph.settle(bolt_server[1])
    driver = GraphDatabase.driver(f"bolt://127.0.0.1:{bolt_server[1]}", auth=None, connection_timeout=5,
                                  connection_acquisition_timeout=10, max_transaction_retry_time=5)
    yield driver
    driver.close()


# `make test-neo4j`: the Neo4j adapter's tests against a real Neo4j instead of the stand-in.
REAL_NEO4J_URI = os.environ.get("POLYMATH_TEST_NEO4J_URI", "")


@pytest.fixture(scope="session")
def real_neo4j():
    """A real Neo4j (POLYMATH_TEST_NEO4J_URI, _USER, _PASSWORD, _DATABASE), or None."""
    if not REAL_NEO4J_URI:
        yield None
        return
    from polymath_assets.graph.connection import open_graph

    auth = (os.environ.get("POLYMATH_TEST_NEO4J_USER", "neo4j"), os.environ.get("POLYMATH_TEST_NEO4J_PASSWORD", ""))
    with open_graph(REAL_NEO4J_URI, auth, os.environ.get("POLYMATH_TEST_NEO4J_DATABASE") or None) as connection:
        yield connection


@pytest.fixture
def neo4j_graph(request, real_neo4j):
    """The Neo4j adapter (official driver, managed transactions) on an emptied graph: a
    real Neo4j under `make test-neo4j`, else the Bolt stand-in. The stand-in is FalkorDB,
    so its schema statements and batched deletes are FalkorDB's (it refuses CREATE
    CONSTRAINT and CALL { } IN TRANSACTIONS)."""
    from polymath_assets.graph import cypher
    from polymath_assets.graph.neo4j_adapter import Neo4jGraph

    if real_neo4j is not None:
        real_neo4j.delete_in_batches("MATCH (n)", "n")
        yield real_neo4j
        return
    driver, (_, port) = request.getfixturevalue("bolt_driver"), request.getfixturevalue("bolt_server")
    connection = Neo4jGraph(driver, f"bolt://127.0.0.1:{port}", owns_driver=False, dialect=cypher.FALKORDB)
    connection.run("MATCH (n) DETACH DELETE n")
    yield connection


def _stop_bolt_stand_in(pid_file: Path) -> None:
    """The Bolt stand-in listens on every interface: never leave it behind."""
    import psutil

    from polymath_assets.local.state import terminate

    try:
        pid = int(pid_file.read_text())
        if "redis-server" in " ".join(psutil.Process(pid).cmdline()):
            terminate(pid, timeout_s=10)
    except (OSError, ValueError, psutil.Error):
        pass


@pytest.fixture
def emulator(tmp_path):
    """The offline Gemini emulator in this process, without faults (tests set them)."""
    from polymath_assets.gemini.emulator import Faults, GeminiEmulator

    with GeminiEmulator(state_dir=tmp_path / "emulator", faults=Faults()) as emu:
        yield emu


@pytest.fixture
def client(emulator):
    """The batch client on the emulator, through the real SDK (SDK retries off: faults show at once)."""
    from polymath_assets.gemini.client import BatchClient

    return BatchClient("offline-emulator", base_url=emulator.base_url, provider="gemini-emulator", retry_attempts=1)


def pytest_sessionfinish(session, exitstatus):
    home = Config.from_env().home
    embedded_postgres.stop(home)
    embedded_graph.stop(home)
    _stop_bolt_stand_in(home / "bolt-graph" / "redis.pid")
    shutil.rmtree(_SESSION_HOME, ignore_errors=True)
