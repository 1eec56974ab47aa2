"""Figures for the embedding path, measured in one run on this machine.

1. Write-back: random 1024-d float32 vectors stored for N synthetic passages through
   ``kb.embeddings.write_embeddings`` (binary COPY into a temp table + one UPDATE … FROM)
   versus one ``UPDATE passages SET embedding=…`` per row in one transaction (the
   generous version of the row-at-a-time pattern), on a subset; rows/s and the ratio.
2. HNSW: building the cosine index once over a subset of filled vectors, versus writing
   further rows with the index already present (what a backfill would pay per row if
   the index were created first).
3. HNSW scaling: the index built over two sizes (``--hnsw-sizes``, default 25k and 100k)
   with maintenance_work_mem sized to the index (kb.embeddings.hnsw_build_memory_mb) and
   parallel maintenance workers; the time ratio (target ≤ 5× for 4× the vectors: an
   in-memory build grows a little faster than linearly, a spilling one far faster).
4. Optional (``--encode N``): encoding throughput of the packaged small model on CPU,
   one encoder call per 2,048-passage chunk (the pipeline) versus one call per batch.

No model is needed for 1 and 2. Nothing here is asserted: these are figures to read.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from polymath_assets.config import Config
from polymath_assets.corpus.ingest import ingest_file
from polymath_assets.corpus.synthetic import documents_for_passages, generate, write_jsonl
from polymath_assets.kb import embeddings as kb_embeddings
from polymath_assets.kb.db import migrate_database
from polymath_assets.local import embedded_postgres

DIM = 1024


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def load_corpus(conn: psycopg.Connection, home: Path, passages: int) -> list[str]:
    """Ingest synthetic passages; return exactly ``passages`` ids (the generator's count
    per document is random, so it is asked for a few more)."""
    corpus = home / "corpus.jsonl"
    write_jsonl(corpus, generate(documents_for_passages(passages + passages // 20 + 50), seed=13))
    ingest_file(conn, corpus)
    conn.commit()
    ids = [r[0] for r in conn.execute("SELECT passage_id::text FROM passages ORDER BY passage_id")]
    return ids[:passages]


def reset_embeddings(dsn: str) -> None:
    """Back to no vectors, no index and no dead tuples: every measurement starts from the same table."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP INDEX IF EXISTS {kb_embeddings.HNSW_INDEX}")
        conn.execute("UPDATE passages SET embedding = NULL, embedding_model = NULL WHERE embedding IS NOT NULL")
        conn.execute("VACUUM (ANALYZE) passages")


def per_row_updates(conn: psycopg.Connection, ids: list[str], vectors: np.ndarray) -> float:
    register_vector(conn)
    t = time.perf_counter()
    with conn.cursor() as cur:
        for passage_id, vector in zip(ids, vectors):
            cur.execute("UPDATE passages SET embedding = %s, embedding_model = %s WHERE passage_id = %s",
                        (vector, "bench-per-row", passage_id))
    conn.commit()
    return time.perf_counter() - t


def copy_update(conn: psycopg.Connection, ids: list[str], vectors: np.ndarray, model: str) -> tuple[int, float]:
    t = time.perf_counter()
    written = kb_embeddings.write_embeddings(conn, zip(ids, vectors), model)
    conn.commit()
    return written, time.perf_counter() - t


def bench_write_back(dsn: str, ids: list[str], baseline_rows: int) -> dict:
    vectors = np.random.default_rng(0).standard_normal((len(ids), DIM), dtype=np.float32)
    subset = min(baseline_rows, len(ids))
    reset_embeddings(dsn)
    with psycopg.connect(dsn) as conn:
        per_row_seconds = per_row_updates(conn, ids[:subset], vectors[:subset])
    reset_embeddings(dsn)
    with psycopg.connect(dsn) as conn:
        written, seconds = copy_update(conn, ids, vectors, "bench-copy")
    return {"per-row rows": subset, "per-row rows/s": rate(subset, per_row_seconds),
            "COPY rows": written, "COPY seconds": seconds, "COPY rows/s": rate(written, seconds)}


def bench_hnsw(dsn: str, ids: list[str], build_rows: int, index_rows: int, memory: str) -> dict:
    """Build the index over ``build_rows`` vectors, then write ``index_rows`` more with it present."""
    build_rows = min(build_rows, len(ids) - index_rows)
    vectors = np.random.default_rng(1).standard_normal((build_rows + index_rows, DIM), dtype=np.float32)
    reset_embeddings(dsn)
    with psycopg.connect(dsn) as conn:
        copy_update(conn, ids[:build_rows], vectors[:build_rows], "bench-build")
        t = time.perf_counter()
        kb_embeddings.ensure_hnsw_index(conn, maintenance_work_mem=memory)
        conn.commit()
        build_seconds = time.perf_counter() - t
        # With the index present every UPDATE also inserts into the HNSW graph.
        written, seconds = copy_update(conn, ids[build_rows:build_rows + index_rows], vectors[build_rows:],
                                       "bench-with-index")
    return {"build rows": build_rows, "build seconds": build_seconds, "build rows/s": rate(build_rows, build_seconds),
            "index rows": written, "index rows/s": rate(written, seconds)}


def scaling_vectors(n: int, kind: str) -> np.ndarray:
    """``random``: isotropic Gaussian vectors, the worst case for graph search (no structure,
    every neighbourhood looks alike). ``clustered``: points around 2,000 topic centres, closer
    to how text embeddings of a corpus lie."""
    rng = np.random.default_rng(2)
    if kind == "random":
        return rng.standard_normal((n, DIM), dtype=np.float32)
    centres = rng.standard_normal((2000, DIM), dtype=np.float32)
    vectors = centres[rng.integers(0, len(centres), n)] + 0.35 * rng.standard_normal((n, DIM), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def bench_hnsw_scaling(dsn: str, ids: list[str], sizes: list[int], build: kb_embeddings.HnswBuild,
                       kind: str = "random") -> dict:
    """Build seconds and the maintenance_work_mem chosen, per size."""
    figures = {}
    vectors = scaling_vectors(max(sizes), kind)
    for n in sizes:
        reset_embeddings(dsn)
        with psycopg.connect(dsn) as conn:
            copy_update(conn, ids[:n], vectors[:n], "bench-scaling")
            memory_mb = kb_embeddings.hnsw_build_memory_mb(n, DIM, build)
            t = time.perf_counter()
            kb_embeddings.ensure_hnsw_index(conn, build=build)
            conn.commit()
            figures[n] = (time.perf_counter() - t, memory_mb)
    return figures


def bench_encode(dsn: str, n: int) -> dict:
    from polymath_assets.embedding import Encoder, length_sorted_batches

    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT passage_id::text, passage_text FROM passages ORDER BY passage_id LIMIT %s",
                            (n,)).fetchall()
    t = time.perf_counter()
    encoder = Encoder("packaged-minilm", device="cpu", batch_size=32)
    figures = {"model load seconds": time.perf_counter() - t, "encode passages": len(rows), "device": encoder.device}
    encoder.encode(["warm up"])
    batches = length_sorted_batches(rows, encoder.batch_size)
    texts = [text for batch in batches for _, text in batch]
    t = time.perf_counter()
    for start in range(0, len(texts), 2048):
        encoder.encode(texts[start:start + 2048])
    figures["one call per chunk (passages/s)"] = rate(len(texts), time.perf_counter() - t)
    t = time.perf_counter()
    for batch in batches:
        encoder.encode([text for _, text in batch])
    figures["one call per batch (passages/s)"] = rate(len(texts), time.perf_counter() - t)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=50_000, help="passages (and vectors) for the COPY path")
    parser.add_argument("--baseline-rows", type=int, default=10_000, help="rows for the per-row UPDATE baseline")
    parser.add_argument("--hnsw-rows", type=int, default=20_000, help="vectors the HNSW index is built over")
    parser.add_argument("--index-rows", type=int, default=1_000, help="rows written with the HNSW index present")
    parser.add_argument("--index-memory", default="1GB", help="maintenance_work_mem for the HNSW build")
    parser.add_argument("--hnsw-sizes", default="25000,100000",
                        help="vectors for the HNSW scaling figure, smaller first ('' skips it)")
    parser.add_argument("--hnsw-memory-cap-mb", type=int, default=4096, help="cap of the sized maintenance_work_mem")
    parser.add_argument("--hnsw-workers", type=int, default=2, help="max_parallel_maintenance_workers for the build")
    parser.add_argument("--hnsw-data", choices=("random", "clustered"), default="random",
                        help="vectors for the scaling figure (see scaling_vectors)")
    parser.add_argument("--encode", type=int, default=0, metavar="N", help="also time encoding N passages on CPU")
    args = parser.parse_args()
    hnsw_sizes = [int(n) for n in args.hnsw_sizes.split(",") if n.strip()]
    args.passages = max([args.passages, *hnsw_sizes])
    home = Path(tempfile.mkdtemp(prefix="polymath-embed-bench-"))
    try:
        dsn = embedded_postgres.start(home)
        migrate_database(dsn, Config.from_env({"POLYMATH_HOME": str(home), "POLYMATH_EMBEDDING_DIM": str(DIM)}))
        print(f"embedding write-back benchmark: {args.passages:,} synthetic passages, random {DIM}-d float32 vectors ...",
              flush=True)
        with psycopg.connect(dsn) as conn:
            ids = load_corpus(conn, home, args.passages)
        w = bench_write_back(dsn, ids, args.baseline_rows)
        print(f"  COPY (binary) + one UPDATE     {w['COPY rows']:>8,} rows  {w['COPY rows/s']:>9,.0f} rows/s"
              f"  ({w['COPY seconds']:.1f} s)")
        print(f"  one UPDATE per row, one txn    {w['per-row rows']:>8,} rows  {w['per-row rows/s']:>9,.0f} rows/s")
        print(f"  ratio                          {w['COPY rows/s'] / w['per-row rows/s']:.1f}x")
        print(f"HNSW benchmark (maintenance_work_mem={args.index_memory}) ...", flush=True)
        h = bench_hnsw(dsn, ids, args.hnsw_rows, args.index_rows, args.index_memory)
        print(f"  build once over filled vectors {h['build rows']:>8,} rows  {h['build rows/s']:>9,.0f} rows/s"
              f"  ({h['build seconds']:.1f} s)")
        print(f"  COPY + UPDATE, index present   {h['index rows']:>8,} rows  {h['index rows/s']:>9,.0f} rows/s")
        if hnsw_sizes:
            build = kb_embeddings.HnswBuild(args.hnsw_memory_cap_mb, args.hnsw_workers)
            print(f"HNSW scaling: {args.hnsw_data} vectors, sized maintenance_work_mem (cap {build.memory_cap_mb} MB), "
                  f"{build.workers} parallel workers ...", flush=True)
            scaling = bench_hnsw_scaling(dsn, ids, hnsw_sizes, build, args.hnsw_data)
            for n, (seconds, memory_mb) in scaling.items():
                print(f"  build over {n:>8,} vectors    {seconds:7.1f} s  (maintenance_work_mem {memory_mb} MB)")
                print(f"BENCH hnsw_build_seconds_{args.hnsw_data}_{n} {seconds:.1f} s")
            small, large = hnsw_sizes[0], hnsw_sizes[-1]
            print(f"BENCH hnsw_build_ratio_{args.hnsw_data}_{large}_vs_{small} "
                  f"{scaling[large][0] / scaling[small][0]:.2f} x "
                  f"(for {large / small:.0f}x the vectors; target <= 5x for 4x)")
        if args.encode:
            print(f"encoding benchmark: packaged-minilm on CPU, {args.encode:,} passages ...", flush=True)
            e = bench_encode(dsn, args.encode)
            print(f"  model load                     {e['model load seconds']:.1f} s on {e['device']}")
            for label in ("one call per chunk", "one call per batch"):
                print(f"  {label:30} {e[f'{label} (passages/s)']:>9,.1f} passages/s")
    finally:
        embedded_postgres.stop(home)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
