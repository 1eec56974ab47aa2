"""Passage shards: a pure, permanent function of the passage id.

shard_of(id) = first 28 bits of md5(str(id)), modulo the shard count. The database
stores the same 28-bit hash in ``passages.shard_hash`` (migration 001), so Python and
SQL agree by construction. Changing this function would move passages between
partitions whose history Dagster already recorded: never change it.
"""

from __future__ import annotations

import hashlib
import uuid

SHARD_KEY_PREFIX = "shard-"


def shard_hash(passage_id: uuid.UUID | str) -> int:
    return int(hashlib.md5(str(uuid.UUID(str(passage_id))).encode()).hexdigest()[:7], 16)


def shard_of(passage_id: uuid.UUID | str, shard_count: int) -> int:
    return shard_hash(passage_id) % shard_count


def shard_key(shard: int) -> str:
    return f"{SHARD_KEY_PREFIX}{shard:03d}"


def shard_keys(shard_count: int) -> list[str]:
    return [shard_key(s) for s in range(shard_count)]


def parse_shard_key(key: str) -> int:
    if not key.startswith(SHARD_KEY_PREFIX) or not key[len(SHARD_KEY_PREFIX):].isdigit():
        raise ValueError(f"not a shard partition key: {key!r} (expected e.g. 'shard-007')")
    return int(key[len(SHARD_KEY_PREFIX):])
