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
    _dsn: str = PrivateAttr(default="")

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        from polymath_assets.kb.db import prepare
        from polymath_assets.local.services import postgres_dsn

        self._dsn = self.dsn_override or postgres_dsn(CONFIG)
        prepare(self._dsn, CONFIG)

    @property
    def dsn(self) -> str:
        return self._dsn

    def connect(self):
        from polymath_assets.kb.db import connect

        return connect(self._dsn or self.dsn_override or _resolve_dsn())


def _resolve_dsn() -> str:
    from polymath_assets.local.services import postgres_dsn

    return postgres_dsn(CONFIG)


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
    """The concept graph over Bolt: Neo4j in production, the embedded server by default."""

    _uri: str = PrivateAttr(default="")

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        from polymath_assets.local.services import graph_uri

        self._uri = graph_uri(CONFIG)

    @property
    def uri(self) -> str:
        return self._uri


def resources_for(config: Config) -> dict[str, dg.ConfigurableResource]:
    return {"postgres": PostgresResource(), "graph": GraphResource(), "gemini": GeminiResource()}
