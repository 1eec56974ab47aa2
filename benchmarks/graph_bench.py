"""Graph sync figures on the embedded FalkorDB (its own protocol, unix socket): rows/s of a
full sync against the figure recorded for the former Bolt path (neo4j driver, statements
split below 3 KB; that path no longer exists, so its figure is printed as recorded), and
UNWIND MERGE with the lookup indexes created first vs without them.

Starts its own embedded PostgreSQL and a fresh embedded graph server per measured run
(in a temporary home), loads a synthetic corpus, writes concepts straight into
passage_concepts with COPY (terms from the lexicon, no extraction run), resolves their
surfaces to canonical concepts (the packaged small model on CPU; timed apart), then syncs the
same data into an empty graph twice: with indexes, and without any index. Without
indexes every MERGE/MATCH scans its label, so that run uses a subset of the shards
(``--no-index-fraction``); the indexed run is measured on the same subset as well, so
the ratio compares like with like. Nothing is asserted: these are figures to read.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from pathlib import Path

import psycopg

from polymath_assets.concepts.names import name_encoder
from polymath_assets.concepts.pipeline import resolve_corpus
from polymath_assets.concepts.resolver import ResolverSettings
from polymath_assets.config import Config
from polymath_assets.corpus.ingest import ingest_file
from polymath_assets.corpus.lexicon import all_terms
from polymath_assets.corpus.synthetic import documents_for_passages, generate, write_jsonl
from polymath_assets.graph import open_graph, sync_shard
from polymath_assets.kb.db import migrate_database
from polymath_assets.local import embedded_graph, embedded_postgres

# The former path (the neo4j driver over FalkorDB's Bolt listener, statements split below
# 3 KB) on this benchmark, 54,250 mentions = 65,719 rows, measured on the 2-core machine.
RECORDED_BOLT_ROWS_PER_S = 4434


def load(dsn: str, home: Path, config: Config, passages: int, per_passage: int) -> int:
    corpus = home / "corpus.jsonl"
    write_jsonl(corpus, generate(documents_for_passages(passages), seed=23))
    rng = random.Random(5)
    terms = all_terms()
    with psycopg.connect(dsn) as conn:
        ingest_file(conn, corpus)
        ids = [r[0] for r in conn.execute("SELECT passage_id FROM passages").fetchall()]
        with conn.cursor().copy("COPY passage_concepts (passage_id, concept_name, concept_type, confidence, "
                                "extractor_model, extractor_version) FROM STDIN") as copy:
            for pid in ids:
                for name, kind in rng.sample(terms, per_passage - 1):
                    copy.write_row((pid, name, kind, round(rng.uniform(0.72, 0.99), 2), "bench", "gemini_batch_v1"))
                # one rarer concept per passage, so there are thousands of Concept nodes
                name, kind = rng.choice(terms)
                copy.write_row((pid, f"{name} variant {rng.randrange(3000)}", kind, 0.8, "bench", "gemini_batch_v1"))
        conn.commit()
        started = time.perf_counter()
        summary = resolve_corpus(conn, name_encoder(config, device="cpu").encode, ResolverSettings.from_config(config))
        conn.commit()
        print(f"resolved {summary.surfaces} surfaces into {summary.concepts_created} canonical concepts "
              f"in {time.perf_counter() - started:.1f} s")
        return conn.execute("SELECT count(*) FROM passage_concepts_merged").fetchone()[0]


def measure(dsn: str, home: Path, label: str, *, indexes: bool, shard: int | None, shard_count: int,
            batch_size: int) -> dict:
    graph_home = home / f"graph-{label}"  # a fresh, empty server for each run
    uri = embedded_graph.start(graph_home)
    try:
        with psycopg.connect(dsn) as conn, open_graph(uri) as graph:
            result = sync_shard(conn, graph, shard=shard, shard_count=shard_count, batch_size=batch_size,
                                full=True, create_schema=indexes)
    finally:
        embedded_graph.stop(graph_home)
    return {"label": label, "rows": result.rows, "mentions": result.counts["mentions"],
            "seconds": result.seconds, "rows_per_s": result.rows / result.seconds,
            "mentions_per_s": result.counts["mentions"] / result.seconds, "counts": result.counts}


def show(figure: dict) -> None:
    print(f"  {figure['label']:<28} {figure['rows']:>7} rows ({figure['mentions']} mentions) in "
          f"{figure['seconds']:7.2f} s = {figure['rows_per_s']:8.0f} rows/s, {figure['mentions_per_s']:8.0f} mentions/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--passages", type=int, default=5500)
    parser.add_argument("--concepts-per-passage", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=Config.from_env({}).graph_batch_size)
    parser.add_argument("--repeat", type=int, default=3, help="full syncs to take the median of")
    parser.add_argument("--no-index-fraction", type=int, default=2,
                        help="the no-index run syncs 1/N of the passages (shard 0 of N)")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="polymath-graph-bench-"))
    config = Config.from_env({"POLYMATH_HOME": str(home), "POLYMATH_EMBEDDING_MODEL": "packaged-minilm",
                              "POLYMATH_EMBEDDING_DIM": "384"})
    try:
        dsn = embedded_postgres.start(home)
        migrate_database(dsn, config)
        t = time.perf_counter()
        mentions = load(dsn, home, config, args.passages, args.concepts_per_passage)
        print(f"loaded {args.passages} passages, {mentions} merged mention rows in {time.perf_counter() - t:.1f} s "
              f"(batch size {args.batch_size}; embedded FalkorDB over its own protocol)")
        # The full sync is measured --repeat times, each into a fresh server; the median is
        # reported (the machine is shared: single runs vary by tens of percent).
        runs = sorted((measure(dsn, home, f"indexes, all shards #{i + 1}", indexes=True, shard=None, shard_count=1,
                               batch_size=args.batch_size) for i in range(args.repeat)),
                      key=lambda f: f["rows_per_s"])
        for figure in runs:
            show(figure)
        full = runs[len(runs) // 2]
        full = {**full, "label": "indexes, all shards (median)"}
        n = args.no_index_fraction
        sub_indexed = measure(dsn, home, f"indexes, 1/{n} subset", indexes=True, shard=0, shard_count=n,
                              batch_size=args.batch_size)
        sub_bare = measure(dsn, home, f"no indexes, 1/{n} subset", indexes=False, shard=0, shard_count=n,
                           batch_size=args.batch_size)
        for figure in (full, sub_indexed, sub_bare):
            show(figure)
        print(f"BENCH graph_sync {full['rows_per_s']:.0f} rows/s")
        print(f"BENCH graph_sync_baseline_recorded {RECORDED_BOLT_ROWS_PER_S} rows/s")
        print(f"BENCH graph_sync_vs_recorded_bolt {full['rows_per_s'] / RECORDED_BOLT_ROWS_PER_S:.1f} x")
        print(f"BENCH graph_sync_index_ratio {sub_indexed['rows_per_s'] / sub_bare['rows_per_s']:.1f} x")
        print(f"  ratio indexed / no-index on the same subset: {sub_indexed['rows_per_s'] / sub_bare['rows_per_s']:.1f}x")
    finally:
        embedded_postgres.stop(home)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
