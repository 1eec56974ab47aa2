import uuid

from polymath_assets.shards import parse_shard_key, shard_hash, shard_key, shard_keys, shard_of


def test_shard_of_is_stable_forever():
    assert shard_hash("7d7b3a2e-0000-4000-8000-000000000001") == 138323089
    assert shard_of("7d7b3a2e-0000-4000-8000-000000000001", 64) == 17
    assert shard_of(uuid.UUID("7d7b3a2e-0000-4000-8000-000000000001"), 64) == 17
    # the same id in upper case is the same passage
    assert shard_of("7D7B3A2E-0000-4000-8000-000000000001", 64) == 17


def test_shards_spread_evenly():
    counts = [0] * 64
    for i in range(64_000):
        counts[shard_of(uuid.UUID(int=i * 2654435761 + 12345), 64)] += 1
    assert min(counts) > 800 and max(counts) < 1200


def test_partition_keys():
    keys = shard_keys(64)
    assert len(keys) == 64 and keys[0] == "shard-000" and keys[-1] == "shard-063"
    assert parse_shard_key(shard_key(42)) == 42


def test_database_and_python_agree_on_every_shard(kb):
    ids = [uuid.uuid4() for _ in range(500)]
    kb.execute("INSERT INTO documents (doc_id) VALUES ('00000000-0000-4000-8000-000000000001')")
    with kb.cursor().copy("COPY passages (passage_id, doc_id, passage_text) FROM STDIN") as copy:
        for pid in ids:
            copy.write_row((pid, "00000000-0000-4000-8000-000000000001", "text"))
    rows = dict(kb.execute("SELECT passage_id, shard_hash % 64 FROM passages").fetchall())
    assert all(rows[pid] == shard_of(pid, 64) for pid in ids)
