"""Resources: thin wrappers that hand the core packages their endpoints.

Which servers they point at is decided in one place (``polymath_assets.local.services``):
``POSTGRES_DSN`` / ``NEO4J_URI`` when set, otherwise the embedded servers, started on
first use. The resolved DSN is never shown as metadata (it may hold a password).

Every resource is given the Config it works under (``settings``, passed in by
``resources_for``); a resource built without one (a test's override) reads the
environment when it is used, never at import.
"""


from typing import Optional

import dagster as dg
from pydantic import PrivateAttr

from polymath_assets.config import Config


# No `from __future__ import annotations` here: Dagster reads the field types at class creation.
class _Configured(dg.ConfigurableResource):
    settings: dg.ResourceDependency[Optional[Config]] = None

    def config(self) -> Config:
        if self.settings is not None:
            return self.settings
        from polymath_assets.defs.settings import load_config

        return load_config()


class PostgresResource(_Configured):
    """The knowledge-base PostgreSQL. Setup only checks that the schema is migrated for
    this configuration (no DDL, no locks: it never waits behind a write on ``passages``)
    and fails with "run `polymath migrate`" when it is not. ``dsn`` overrides the
    configured/embedded server (tests)."""

    dsn_override: str = ""
    embedding_dim: int = 0  # 0: POLYMATH_EMBEDDING_DIM
    _dsn: str = PrivateAttr(default="")

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        from dataclasses import replace

        from polymath_assets.kb.db import prepare
        from polymath_assets.local.services import postgres_dsn

        config = self.config()
        self._dsn = self.dsn_override or postgres_dsn(config)
        prepare(self._dsn, replace(config, embedding_dim=self.embedding_dim or config.embedding_dim))

    def connect(self):
        from polymath_assets.kb.db import connect

        return connect(self._dsn)


class GeminiResource(_Configured):
    """The Gemini Batch API, or the offline emulator when POLYMATH_OFFLINE=1.
    ``base_url_override`` points at an emulator already running (tests)."""

    base_url_override: str = ""

    def client(self):
        from polymath_assets.gemini.client import BatchClient
        from polymath_assets.local.services import batch_client

        if self.base_url_override:
            return BatchClient("offline-emulator", base_url=self.base_url_override, provider="gemini-emulator",
                               timeout_s=self.config().gemini_timeout_s)
        return batch_client(self.config())


class GraphResource(_Configured):
    """The concept graph: Neo4j when NEO4J_URI is set, else the embedded FalkorDB.
    ``uri_override`` points at another server (tests)."""

    uri_override: str = ""

    def open(self):
        from polymath_assets.graph.connection import open_graph
        from polymath_assets.local.services import endpoints, graph_uri

        config = self.config()
        uri = self.uri_override or graph_uri(config)
        found = endpoints(config, "", uri)
        return open_graph(uri, auth=None if self.uri_override else found.graph_auth, database=found.graph_database)


# One encoder per process and settings: loading BGE-M3 takes seconds to minutes, and the
# demo and the sensor's runs call the resource many times in the same process.
_ENCODERS: dict[tuple, object] = {}


class EmbeddingResource(_Configured):
    """The embedding model on the GPU (BGE-M3 by default; CPU fallback), loaded once per
    process. Empty fields take their value from configuration."""

    model: str = ""
    device: str = ""

    def model_name(self) -> str:
        """The configured model, as recorded in passages.embedding_model (no loading)."""
        return self.model or self.config().embedding_model

    def encoder(self):
        from polymath_assets.embedding.encoder import Encoder

        config = self.config()
        key = (self.model or config.embedding_model, self.device or config.embedding_device, config.embedding_fp16,
               config.embedding_batch_size, config.embedding_max_length)
        if key not in _ENCODERS:
            _ENCODERS[key] = Encoder(key[0], device=key[1], fp16=key[2], batch_size=key[3], max_length=key[4])
        return _ENCODERS[key]


RESOURCE_KEYS = ("postgres", "graph", "gemini", "embedder")


def resources_for(config: Config) -> dict[str, dg.ConfigurableResource]:
    return {"postgres": PostgresResource(settings=config), "graph": GraphResource(settings=config),
            "gemini": GeminiResource(settings=config), "embedder": EmbeddingResource(settings=config)}
