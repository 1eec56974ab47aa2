"""Passage shards as static Dagster partitions (keys shard-000 ...)."""

import dagster as dg

from polymath_assets.defs.settings import CONFIG
from polymath_assets.shards import parse_shard_key, shard_keys, shard_of  # noqa: F401 - re-exported

shard_partitions = dg.StaticPartitionsDefinition(shard_keys(CONFIG.shard_count))


def shard_from_context(context: dg.AssetExecutionContext) -> int:
    return parse_shard_key(context.partition_key)
