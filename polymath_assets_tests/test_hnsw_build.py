"""The HNSW build asks for memory sized to the index (within the cap) and parallel
workers, for its own transaction only."""

import numpy as np
import psycopg

from polymath_assets.kb import embeddings as kb_embeddings
from polymath_assets.kb.embeddings import HnswBuild, hnsw_build_memory_mb
from polymath_assets.kb.migrate import migrate


def test_memory_is_rows_times_dim_times_four_bytes_times_overhead_within_floor_and_cap():
    build = HnswBuild(memory_cap_mb=4096, workers=2)
    assert hnsw_build_memory_mb(100_000, 1024, build) == 782  # 100k x 1024 x 4 B x 2
    assert hnsw_build_memory_mb(25_000, 1024, build) == 196
    assert hnsw_build_memory_mb(1_000, 384, build) == 64      # never below the server default
    assert hnsw_build_memory_mb(10_000_000, 1024, build) == 4096


def test_build_sets_memory_and_workers_for_its_transaction_only(new_database):
    with psycopg.connect(new_database()) as conn:
        migrate(conn, embedding_dim=384, shard_count=64)
        conn.execute("INSERT INTO documents (doc_id) VALUES ('00000000-0000-4000-8000-000000000001')")
        ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(200)]
        for pid in ids:
            conn.execute("INSERT INTO passages (passage_id, doc_id, passage_text) VALUES "
                         "(%s, '00000000-0000-4000-8000-000000000001', 't')", (pid,))
        vectors = np.random.default_rng(0).standard_normal((len(ids), 384), dtype=np.float32)
        kb_embeddings.write_embeddings(conn, zip(ids, vectors), "m")
        conn.commit()
        default_workers = conn.execute("SHOW max_parallel_maintenance_workers").fetchone()[0]
        assert kb_embeddings.ensure_hnsw_index(conn, build=HnswBuild(memory_cap_mb=512, workers=0)) == "created"
        assert conn.execute("SHOW maintenance_work_mem").fetchone()[0] == "64MB"
        assert conn.execute("SHOW max_parallel_maintenance_workers").fetchone()[0] == "0" != default_workers
        conn.commit()
        assert conn.execute("SHOW max_parallel_maintenance_workers").fetchone()[0] == default_workers
        assert kb_embeddings.ensure_hnsw_index(conn, rebuild=True, maintenance_work_mem="128MB") == "rebuilt"
        assert conn.execute("SHOW maintenance_work_mem").fetchone()[0] == "128MB"
