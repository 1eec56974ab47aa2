"""Canonical-concept resolution: quality on the SciERC gold set and speed at scale.

1. Quality: every distinct (surface, type) of the 500 SciERC abstracts resolved with the
   acronym pairs of the abstracts, scored against ``polymath_assets_tests/data/
   scierc_concept_gold.jsonl`` (B³ and pairwise precision / recall / F1), beside two
   baselines measured in the same run: the exact (surface, type) key the graph uses today,
   and the normalization key alone.
2. Scale (``--sizes``): synthetic alias families of N distinct surfaces each resolved in a
   fresh database with the packaged small model on CPU; seconds, peak memory, B³ against
   the families, and the time ratio of the largest to the smallest size.

Prints ``BENCH <name> <value> <unit>`` lines. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from polymath_assets.concepts import pipeline  # noqa: E402
from polymath_assets.concepts.names import name_encoder  # noqa: E402
from polymath_assets.concepts.normalize import normalize_key  # noqa: E402
from polymath_assets.concepts.quality import b_cubed, pairwise  # noqa: E402
from polymath_assets.concepts.resolver import ResolverSettings, Surface  # noqa: E402
from polymath_assets.concepts.synthetic import surfaces_for  # noqa: E402
from polymath_assets.config import Config  # noqa: E402
from polymath_assets.kb import canonical  # noqa: E402
from polymath_assets.kb.migrate import migrate  # noqa: E402
from polymath_assets.local import embedded_postgres  # noqa: E402

DIM = 384


def bench(name: str, value: float, unit: str) -> None:
    print(f"BENCH {name} {value:.4f} {unit}", flush=True)


def with_database(dsn: str, name: str) -> str:
    base, _, query = dsn.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def fresh_database(admin_dsn: str, config: Config) -> str:
    name = f"concepts_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = with_database(admin_dsn, name)
    with psycopg.connect(dsn) as conn:
        migrate(conn, embedding_dim=DIM, shard_count=config.shard_count, merge_preference=config.merge_preference,
                confidence_floor=config.confidence_floor)
    return dsn


def resolve_list(dsn: str, surfaces: list[Surface], texts: list[str], embed, settings) -> list[tuple[int, str]]:
    with psycopg.connect(dsn) as conn:
        canonical.record_acronyms(conn, pipeline._merge_by_key(pipeline.acronym_counts(texts)))
        found = pipeline.resolve_names(conn, surfaces, embed, settings)
        conn.commit()
    return found


def report_quality(prefix: str, predicted: dict, gold: dict) -> None:
    b3, pw = b_cubed(predicted, gold), pairwise(predicted, gold)
    bench(f"{prefix}_b3_precision", b3.precision, "ratio")
    bench(f"{prefix}_b3_recall", b3.recall, "ratio")
    bench(f"{prefix}_b3_f1", b3.f1, "ratio")
    bench(f"{prefix}_pairwise_precision", pw.precision, "ratio")
    bench(f"{prefix}_pairwise_recall", pw.recall, "ratio")
    bench(f"{prefix}_pairwise_f1", pw.f1, "ratio")


def quality(admin_dsn: str, config: Config, embed, settings) -> None:
    from polymath_assets_tests.concept_gold import gold_clusters, scierc_surfaces, scierc_texts

    gold = gold_clusters()
    counts = scierc_surfaces()
    surfaces = [Surface(name, type_, n) for (name, type_), n in sorted(counts.items())]
    started = time.perf_counter()
    found = resolve_list(fresh_database(admin_dsn, config), surfaces, scierc_texts(), embed, settings)
    seconds = time.perf_counter() - started
    predicted = {(s.name, s.type): cid for s, (cid, _) in zip(surfaces, found)}
    print(f"SciERC gold set: {len(gold)} surfaces, {len(set(gold.values()))} gold clusters, "
          f"{len(set(predicted.values()))} predicted, {seconds:.1f}s", flush=True)
    report_quality("concepts", predicted, gold)
    report_quality("concepts_exact_key_baseline", {k: k for k in gold}, gold)
    report_quality("concepts_norm_key_baseline", {k: (normalize_key(k[0]), k[1]) for k in gold}, gold)
    grouped = {k for k, v in gold.items() if not v.startswith("single:")}
    report_quality("concepts_grouped_only", {k: predicted[k] for k in grouped}, {k: gold[k] for k in grouped})


def scale(admin_dsn: str, config: Config, embed, settings, size: int) -> float:
    rows, passages = surfaces_for(size)
    surfaces = [Surface(name, type_, 1) for name, type_, _ in rows]
    dsn = fresh_database(admin_dsn, config)
    started = time.perf_counter()
    found = resolve_list(dsn, surfaces, passages, embed, settings)
    seconds = time.perf_counter() - started
    predicted = {(s.name, s.type): cid for s, (cid, _) in zip(surfaces, found)}
    gold = {(name, type_): family for name, type_, family in rows}
    with psycopg.connect(dsn) as conn:
        by_stage = dict(conn.execute("SELECT stage, count(*) FROM concept_aliases GROUP BY 1").fetchall())
    print(f"synthetic {len(surfaces):,} surfaces: {seconds:.1f}s, stages {by_stage}", flush=True)
    bench(f"concepts_resolve_{len(surfaces)}_seconds", seconds, "s")
    bench(f"concepts_resolve_{len(surfaces)}_rate", len(surfaces) / seconds, "surfaces/s")
    bench(f"concepts_synthetic_{len(surfaces)}_b3_f1", b_cubed(predicted, gold).f1, "ratio")
    bench(f"concepts_synthetic_{len(surfaces)}_b3_precision", b_cubed(predicted, gold).precision, "ratio")
    bench("concepts_peak_rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MiB")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="25000,100000",
                        help="comma-separated synthetic surface counts (e.g. 125000,500000); empty: quality only")
    args = parser.parse_args()
    config = Config.from_env()
    settings = ResolverSettings.from_config(config)
    encoder = name_encoder(Config.from_env({"POLYMATH_EMBEDDING_MODEL": "packaged-minilm"}), device="cpu")
    home = Path(tempfile.mkdtemp(prefix="polymath-concepts-bench-"))
    try:
        admin = embedded_postgres.start(home)
        admin = with_database(admin, "postgres")
        quality(admin, config, encoder.encode, settings)
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        timings = Counter()
        for size in sizes:
            timings[size] = scale(admin, config, encoder.encode, settings, size)
        if len(sizes) >= 2:
            small, large = min(sizes), max(sizes)
            bench(f"concepts_time_ratio_{large}_vs_{small}", timings[large] / timings[small], "x")
    finally:
        embedded_postgres.stop(home)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
