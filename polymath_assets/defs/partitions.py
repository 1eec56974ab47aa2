"""Passage shards as static Dagster partitions (keys shard-000 ...), as many as the
configuration says."""

from functools import cache

import dagster as dg

from polymath_assets.shards import parse_shard_key, shard_keys


@cache
def shard_partitions(shard_count: int) -> dg.StaticPartitionsDefinition:
    """One definition per shard count, so every asset of a code location shares it."""
    return dg.StaticPartitionsDefinition(shard_keys(shard_count))


def shard_from_context(context: dg.AssetExecutionContext) -> int:
    return parse_shard_key(context.partition_key)


def shards_from_context(context: dg.AssetExecutionContext) -> list[int]:
    """The shards of the run: one, or a range (a backfill with a single-run policy)."""
    return [parse_shard_key(key) for key in context.partition_keys]
