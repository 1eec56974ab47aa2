"""Resources: thin wrappers that hand the core packages their endpoints.

Which servers they point at is decided in one place (``polymath_assets.local.services``):
``POSTGRES_DSN`` / ``NEO4J_URI`` when set, otherwise the embedded servers, started on
first use. The resolved DSN is never shown as metadata (it may hold a password).
"""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from polymath_assets.config import Config
from polymath_assets.defs.settings import CONFIG


class PostgresResource(dg.ConfigurableResource):
    """The knowledge-base PostgreSQL; the schema is migrated when a run first uses it.
    ``dsn`` overrides the configured/embedded server (tests)."""

    dsn_override: str = ""
    embedding_dim: int = 0  # 0: POLYMATH_EMBEDDING_DIM
    _dsn: str = PrivateAttr(default="")

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        from dataclasses import replace

        from polymath_assets.kb.db import prepare
        from polymath_assets.local.services import postgres_dsn

        self._dsn = self.dsn_override or postgres_dsn(CONFIG)
        prepare(self._dsn, replace(CONFIG, embedding_dim=self.embedding_dim or CONFIG.embedding_dim))

    def connect(self):
        from polymath_assets.kb.db import connect

        return connect(self._dsn)


class GeminiResource(dg.ConfigurableResource):
    """The Gemini Batch API, or the offline emulator when POLYMATH_OFFLINE=1.
    ``base_url_override`` points at an emulator already running (tests)."""

    base_url_override: str = ""

    def client(self):
        from polymath_assets.gemini.client import BatchClient
        from polymath_assets.local.services import batch_client

        if self.base_url_override:
            return BatchClient("offline-emulator", base_url=self.base_url_override, provider="gemini-emulator")
        return batch_client(CONFIG)


class GraphResource(dg.ConfigurableResource):
    """The concept graph: Neo4j when NEO4J_URI is set, else the embedded FalkorDB.
    ``uri_override`` points at another server (tests)."""

    uri_override: str = ""

    def open(self):
        from polymath_assets.graph.connection import open_graph
        from polymath_assets.local.services import endpoints, graph_uri

        uri = self.uri_override or graph_uri(CONFIG)
        found = endpoints(CONFIG, "", uri)
        return open_graph(uri, auth=None if self.uri_override else found.graph_auth, database=found.graph_database)


# One encoder per process and settings: loading BGE-M3 takes seconds to minutes, and the
# demo and the sensor's runs call the resource many times in the same process.
_ENCODERS: dict[tuple, object] = {}


class EmbeddingResource(dg.ConfigurableResource):
    """The embedding model on the GPU (BGE-M3 by default; CPU fallback), loaded once per
    process. Empty fields take their value from configuration."""

    model: str = ""
    device: str = ""

    def encoder(self):
        from polymath_assets.embedding.encoder import Encoder

        key = (self.model or CONFIG.embedding_model, self.device or CONFIG.embedding_device, CONFIG.embedding_fp16,
               CONFIG.embedding_batch_size, CONFIG.embedding_max_length)
        if key not in _ENCODERS:
            _ENCODERS[key] = Encoder(key[0], device=key[1], fp16=key[2], batch_size=key[3], max_length=key[4])
        return _ENCODERS[key]


def resources_for(config: Config) -> dict[str, dg.ConfigurableResource]:
    return {"postgres": PostgresResource(), "graph": GraphResource(), "gemini": GeminiResource(),
            "embedder": EmbeddingResource()}
