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
the ratio compares like with like. Then restart times: half and the whole graph synced
into fresh servers, restarted after ``kill -9`` and after clean stops, with the on-disk size,
scaled to the 550k-passage corpus. Nothing is asserted: these are figures to read.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from polymath_assets.concepts.names import name_encoder
from polymath_assets.concepts.pipeline import resolve_corpus
from polymath_assets.concepts.resolver import ResolverSettings
from polymath_assets.config import Config
from polymath_assets.extraction.estimate import PROJECTED_PASSAGES
from polymath_assets.graph import cypher, open_graph, sync_shard
from polymath_assets.kb.db import migrate_database
from polymath_assets.local import embedded_graph, embedded_postgres

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not an installed copy
from polymath_assets_tests.graph_corpus import merged_mentions, write_concepts  # noqa: E402

TARGET_PASSAGES = PROJECTED_PASSAGES  # the production corpus (550k passages), for the restart extrapolation
RESTART_REPEAT = 3         # clean restarts per graph, the median reported

# The former path (the neo4j driver over FalkorDB's Bolt listener, statements split below
# 3 KB) on this benchmark, 54,250 mentions = 65,719 rows, measured on the 2-core machine.
RECORDED_BOLT_ROWS_PER_S = 4434


def load(dsn: str, home: Path, config: Config, passages: int, per_passage: int) -> int:
    with psycopg.connect(dsn) as conn:
        write_concepts(conn, home, passages, per_passage)
        started = time.perf_counter()
        summary = resolve_corpus(conn, name_encoder(config, device="cpu").encode, ResolverSettings.from_config(config))
        conn.commit()
        print(f"resolved {summary.surfaces} surfaces into {summary.concepts_created} canonical concepts "
              f"in {time.perf_counter() - started:.1f} s")
        return merged_mentions(conn)


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


def _restart_seconds(graph_home: Path) -> tuple[float, float]:
    """(from launching the server to its first answer to a query, the part of it the
    server spent loading its files, as it logs it)."""
    started = time.perf_counter()
    embedded_graph.start(graph_home)
    total = time.perf_counter() - started
    loaded = [line for line in embedded_graph.server_log(graph_home, embedded_graph.running_pid(graph_home))
              if "DB loaded from append only file:" in line]
    return total, float(loaded[-1].rsplit(":", 1)[1].split()[0]) if loaded else 0.0


def measure_restart(home: Path, label: str, fill) -> dict:
    """Fill a fresh server (``fill(graph)`` returns the mentions written); restart it after
    ``kill -9`` (snapshot and tail, as a crash leaves them), then after clean stops (one
    snapshot: what ``services down`` leaves)."""
    graph_home = home / f"restart-{label}"
    uri = embedded_graph.start(graph_home)
    try:
        with open_graph(uri) as graph:
            mentions = fill(graph)
        crash_bytes = embedded_graph.disk_bytes(graph_home)
        os.kill(embedded_graph.running_pid(graph_home), signal.SIGKILL)
        after_kill = _restart_seconds(graph_home)
        clean, stops = [], []
        for _ in range(RESTART_REPEAT):
            started = time.perf_counter()
            embedded_graph.stop(graph_home)  # folds the tail into the snapshot, then SHUTDOWN
            stops.append(time.perf_counter() - started)
            clean.append(_restart_seconds(graph_home))
        clean.sort()
        snapshot_bytes = embedded_graph.disk_bytes(graph_home)
        with open_graph(uri) as graph:  # what came back is what was written
            nodes = graph.records("MATCH (n) RETURN count(n) AS n")[0]["n"]
    finally:
        embedded_graph.stop(graph_home)
    return {"label": label, "mentions": mentions, "nodes": nodes, "crash_mb": crash_bytes / 1e6,
            "after_kill_s": after_kill[0], "after_kill_load_s": after_kill[1], "disk_mb": snapshot_bytes / 1e6,
            "restart_s": clean[len(clean) // 2][0], "load_s": clean[len(clean) // 2][1],
            "stop_s": sorted(stops)[len(stops) // 2]}


def synced(dsn: str, *, shard: int | None, shard_count: int, batch_size: int):
    """A fill for measure_restart: a full sync from PostgreSQL."""
    def fill(graph) -> int:
        with psycopg.connect(dsn) as conn:
            return sync_shard(conn, graph, shard=shard, shard_count=shard_count, batch_size=batch_size,
                              full=True).counts["mentions"]
    return fill


# The proportions of a real run (306 papers: 8,350 passages, 20,835 concepts, 51,724
# mentions), for a graph written straight into the server at scale (--restart-scale).
PASSAGES_PER_PAPER, CONCEPTS_PER_PASSAGE, MENTIONS_PER_PASSAGE = 27, 2.5, 6.2


def at_scale(passages: int, batch_size: int):
    """A fill for measure_restart: papers, passages, concepts and mentions in the real
    run's proportions, written with the sync's own statements (no PostgreSQL, no resolver,
    so a graph of 10% of the production corpus builds in minutes)."""
    def fill(graph) -> int:
        rng = random.Random(7)
        labels = list(cypher.CONCEPT_LABELS.items())
        graph.ensure_schema()
        concepts = int(passages * CONCEPTS_PER_PASSAGE)
        rows = {"papers": [], "passages": [], "mentions": []}
        write = lambda statement, key: graph.run(statement, rows=rows.pop(key), synced_at=1)  # noqa: E731
        for start in range(0, concepts, batch_size):
            end = min(concepts, start + batch_size)
            for offset, (kind, label) in enumerate(labels):  # concept i has the type of labels[i % len(labels)]
                first = start + (offset - start) % len(labels)
                batch = [{"concept_id": i, "name": f"{kind} concept {i}", "type": kind, "aliases": [f"{kind} concept {i}"]}
                         for i in range(first, end, len(labels))]
                if batch:
                    graph.run(cypher.merge_concepts(label), rows=batch, synced_at=1)
        mentions = 0
        for p in range(passages):
            doc = f"doc-{p // PASSAGES_PER_PAPER:06d}"
            if p % PASSAGES_PER_PAPER == 0:
                rows["papers"].append({"doc_id": doc, "title": f"A study of topic {p} " * 3, "year": 2000 + p % 25,
                                       "doi": f"10.1000/{p}"})
            rows["passages"].append({"passage_id": f"passage-{p:08d}", "doc_id": doc, "section": "results",
                                     "text_preview": f"passage {p} " * 20, "shard": p % 64})
            for _ in range(int(MENTIONS_PER_PASSAGE) + (rng.random() < MENTIONS_PER_PASSAGE % 1)):
                concept = rng.randrange(concepts)
                kind = labels[concept % len(labels)][0]
                surface = f"{kind} concept {concept}"
                rows["mentions"].append({"passage_id": f"passage-{p:08d}", "concept_id": concept, "surface": surface,
                                         "surface_type": kind, "confidence": 0.9, "extractor_version": "v1",
                                         "key": cypher.mention_key(concept, kind, surface)})
            if len(rows["passages"]) >= batch_size // 8 or p == passages - 1:
                write(cypher.MERGE_PAPERS, "papers")
                write(cypher.MERGE_PASSAGES, "passages")
                mentions += len(rows["mentions"])
                write(cypher.MERGE_MENTIONS, "mentions")
                rows = {"papers": [], "passages": [], "mentions": []}
        return mentions
    return fill


def show_restart(figure: dict) -> None:
    print(f"  restart, {figure['label']:<12} {figure['mentions']:>7} mentions, {figure['nodes']} nodes: "
          f"after kill -9 ({figure['crash_mb']:.1f} MB of snapshot + tail) {figure['after_kill_s']:.2f} s "
          f"(loading {figure['after_kill_load_s']:.2f} s); after a clean stop ({figure['disk_mb']:.1f} MB snapshot) "
          f"{figure['restart_s']:.2f} s (loading {figure['load_s']:.2f} s)")


def scaled(total_s: float, load_s: float, scale: float) -> float:
    """A restart at ``scale`` times the data: the load grows with it, the rest of the
    start (process, module, first query) does not."""
    return total_s - load_s + load_s * scale


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
    parser.add_argument("--restart-only", action="store_true",
                        help="measure only the restart figures (e.g. at a larger --passages)")
    parser.add_argument("--restart-scale", type=int, metavar="PASSAGES",
                        help="only the restart figures, of a graph of this many passages written straight "
                             "into the server in the proportions of a real run (no PostgreSQL)")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="polymath-graph-bench-"))
    if args.restart_scale:
        try:
            report_restart(home, args.restart_scale, at_scale(args.restart_scale // 2, args.batch_size),
                           at_scale(args.restart_scale, args.batch_size))
        finally:
            shutil.rmtree(home, ignore_errors=True)
        return
    config = Config.from_env({"POLYMATH_HOME": str(home), "POLYMATH_EMBEDDING_MODEL": "packaged-minilm",
                              "POLYMATH_EMBEDDING_DIM": "384"})
    try:
        dsn = embedded_postgres.start(home)
        migrate_database(dsn, config)
        t = time.perf_counter()
        mentions = load(dsn, home, config, args.passages, args.concepts_per_passage)
        print(f"loaded {args.passages} passages, {mentions} merged mention rows in {time.perf_counter() - t:.1f} s "
              f"(batch size {args.batch_size}; embedded FalkorDB over its own protocol)")
        if args.restart_only:
            restart_from_postgres(dsn, home, args.passages, args.batch_size)
            return
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
        restart_from_postgres(dsn, home, args.passages, args.batch_size)
    finally:
        embedded_postgres.stop(home)
        shutil.rmtree(home, ignore_errors=True)


def report_restart(home: Path, passages: int, half, whole) -> None:
    """Restart times of half the graph and of the whole graph; the whole graph's scaled to
    the production corpus in proportion to its passages (the load part only; measured at
    55,000 passages with --restart-scale, see the README)."""
    figures = [measure_restart(home, "half graph", half), measure_restart(home, "whole graph", whole)]
    for figure in figures:
        show_restart(figure)
    half_figure, full = figures
    scale = TARGET_PASSAGES / passages
    print(f"BENCH graph_restart_seconds {full['restart_s']:.2f} s")
    print(f"BENCH graph_stop_seconds {full['stop_s']:.2f} s")
    print(f"BENCH graph_restart_load_seconds {full['load_s']:.3f} s")
    print(f"BENCH graph_restart_after_kill_seconds {full['after_kill_s']:.2f} s")
    print(f"BENCH graph_restart_mentions {full['mentions']} mentions")
    print(f"BENCH graph_disk_mb {full['disk_mb']:.1f} MB")
    print(f"BENCH graph_restart_growth {full['restart_s'] / half_figure['restart_s']:.2f} x "
          f"(for {full['mentions'] / half_figure['mentions']:.2f} x the mentions)")
    print(f"BENCH graph_restart_seconds_550k_passages {scaled(full['restart_s'], full['load_s'], scale):.1f} s "
          "(extrapolated)")
    print(f"BENCH graph_restart_after_kill_seconds_550k_passages "
          f"{scaled(full['after_kill_s'], full['after_kill_load_s'], scale):.1f} s (extrapolated)")
    print(f"BENCH graph_disk_mb_550k_passages {full['disk_mb'] * scale:.0f} MB (extrapolated)")


def restart_from_postgres(dsn: str, home: Path, passages: int, batch_size: int) -> None:
    report_restart(home, passages, synced(dsn, shard=0, shard_count=2, batch_size=batch_size),
                   synced(dsn, shard=None, shard_count=1, batch_size=batch_size))


if __name__ == "__main__":
    main()
