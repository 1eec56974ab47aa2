"""Configuration as the Dagster layer sees it: read once when the code location loads."""

from polymath_assets.config import Config

CONFIG = Config.from_env()
