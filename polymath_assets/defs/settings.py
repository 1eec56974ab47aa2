"""Configuration as the Dagster layer sees it: built once when the code location loads
(``definitions.build_definitions(load_config())``) and passed into every asset factory
and resource. Assets read it from their resources (``postgres.config()``), so a test
builds its own Config and hands it in; nothing needs patching."""

from __future__ import annotations

from collections.abc import Mapping

from polymath_assets.config import Config


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    """The environment's configuration, refused when a deployed location lacks its servers."""
    return Config.from_env(environ).check_deployable()
