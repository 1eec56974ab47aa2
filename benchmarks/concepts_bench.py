"""Canonical-concept resolution: quality on the two development gold sets and speed at scale.

1. Quality on the SciERC NER set (``polymath_assets_tests/data/scierc_concept_gold.jsonl``,
   the set the embedding threshold and the rules were tuned on): every distinct (surface,
   type) of the 500 abstracts' mentions resolved as a list of names (``concepts resolve``)
   in a knowledge base of the abstracts whose acronym definitions were read first, as the
   asset reads them.
2. Quality on the definitions set (``scierc_definitions_gold.jsonl``, built from the
   abstracts' own acronym definitions and clusters labelled by hand; no threshold tuned on
   it, but its head-noun rule copies the resolver's): a
   knowledge base of the abstracts with every gold surface as a concept row of the
   passages that write it, resolved the way the asset does (``resolve_corpus``); and the
   same surfaces as a bare list of names (no passages: the list is the only evidence).
   For both sets, stage by stage (key rules only, + acronym, + head, + embedding: the
   whole resolver), B³ precision / recall / F1 and acronym-pair recall (the share of
   acronym ↔ expansion pairs of one gold concept that end in one concept), beside two
   baselines measured in the same run: the exact surface and the lower-cased surface.
3. Scale (``--sizes``): synthetic alias families of N distinct surfaces each resolved in a
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
from dataclasses import replace
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from polymath_assets.concepts import pipeline  # noqa: E402
from polymath_assets.concepts.names import cached_vectors, name_encoder  # noqa: E402
from polymath_assets.concepts.normalize import is_acronym_like  # noqa: E402
from polymath_assets.concepts.quality import b_cubed  # noqa: E402
from polymath_assets.concepts.resolver import MERGING_STAGES, ResolverSettings, Surface  # noqa: E402
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


def resolve_list(dsn: str, surfaces: list[Surface], load, embed, settings) -> list[tuple[int, str]]:
    """``surfaces`` resolved as a list of names, after ``load`` (None: nothing) put passages
    in the knowledge base and their acronym definitions were read as the asset reads them."""
    with psycopg.connect(dsn) as conn:
        if load is not None:
            load(conn)
            pipeline.scan_acronyms(conn, settings.acronym_dominance)
        found = pipeline.resolve_names(conn, surfaces, embed, settings)
        conn.commit()
    return found


def report_quality(prefix: str, predicted: dict, gold: dict, pairs: list | None = None) -> None:
    b3 = b_cubed(predicted, gold)
    bench(f"{prefix}_b3_precision", b3.precision, "ratio")
    bench(f"{prefix}_b3_recall", b3.recall, "ratio")
    bench(f"{prefix}_b3_f1", b3.f1, "ratio")
    if pairs is not None:
        bench(f"{prefix}_acronym_pair_recall", pair_recall(predicted, pairs), "ratio")


def pair_recall(predicted: dict, pairs: list) -> float:
    return sum(predicted[a] == predicted[e] for a, e in pairs) / len(pairs) if pairs else 1.0


def gold_acronym_pairs(gold: dict) -> list:
    """Acronym ↔ expansion pairs of one gold concept (same type): an acronym-like surface
    and a surface that is not one."""
    by_group: dict = {}
    for key, group in gold.items():
        by_group.setdefault(group, []).append(key)
    return [(a, e) for members in by_group.values() for a in members for e in members
            if is_acronym_like(a[0]) and not is_acronym_like(e[0]) and a[1] == e[1]]


STEPS = (("key", frozenset()), ("acronym", frozenset({"acronym"})), ("head", frozenset({"acronym", "head"})),
         ("embedding", MERGING_STAGES))


def baselines(prefix: str, gold: dict, pairs: list) -> None:
    report_quality(f"{prefix}_exact_surface", {k: k for k in gold}, gold, pairs)
    report_quality(f"{prefix}_lowercase", {k: (k[0].lower(), k[1]) for k in gold}, gold, pairs)


def quality_ner(admin_dsn: str, config: Config, embed, settings) -> None:
    from polymath_assets_tests.concept_gold import gold_clusters, load_scierc_kb, scierc_surfaces

    gold = gold_clusters()
    pairs = gold_acronym_pairs(gold)
    surfaces = [Surface(name, type_, n) for (name, type_), n in sorted(scierc_surfaces().items())]
    print(f"SciERC NER set (tuned on): {len(gold)} surfaces, {len(set(gold.values()))} gold clusters, "
          f"{len(pairs)} acronym pairs", flush=True)
    baselines("concepts_ner", gold, pairs)
    for step, stages in STEPS:
        started = time.perf_counter()
        found = resolve_list(fresh_database(admin_dsn, config), surfaces, load_scierc_kb, embed,
                             replace(settings, stages=stages))
        predicted = {(s.name, s.type): cid for s, (cid, _) in zip(surfaces, found)}
        print(f"  +{step}: {len(set(predicted.values()))} concepts, {time.perf_counter() - started:.1f}s", flush=True)
        report_quality(f"concepts_ner_{step}", predicted, gold, pairs)


def quality_definitions(admin_dsn: str, config: Config, embed, settings) -> None:
    from polymath_assets_tests.concept_gold import definition_pairs, definitions_clusters, load_definitions_kb

    gold = definitions_clusters()
    pairs = definition_pairs()
    print(f"definitions set (no threshold tuned on it): {len(gold)} surfaces, {len(set(gold.values()))} gold clusters, "
          f"{len(pairs)} defined acronym pairs", flush=True)
    baselines("concepts_defs", gold, pairs)
    for step, stages in STEPS:
        dsn = fresh_database(admin_dsn, config)
        started = time.perf_counter()
        with psycopg.connect(dsn) as conn:
            load_definitions_kb(conn)
            summary = pipeline.resolve_corpus(conn, embed, replace(settings, stages=stages))
            conn.commit()
            found = canonical.lookup_aliases(conn, list(gold))
        predicted = {k: found[k][0] for k in gold}
        print(f"  +{step}: {len(set(predicted.values()))} concepts, by stage {summary.by_stage}, "
              f"{time.perf_counter() - started:.1f}s", flush=True)
        report_quality(f"concepts_defs_{step}", predicted, gold, pairs)
    surfaces = [Surface(name, type_) for name, type_ in sorted(gold)]
    found = resolve_list(fresh_database(admin_dsn, config), surfaces, None, embed, settings)
    report_quality("concepts_defs_names_only", {(s.name, s.type): cid for s, (cid, _) in zip(surfaces, found)},
                   gold, pairs)


def scale(admin_dsn: str, config: Config, embed, settings, size: int) -> float:
    from polymath_assets_tests.concept_helpers import load_documents

    rows, passages = surfaces_for(size)
    surfaces = [Surface(name, type_, 1) for name, type_, _ in rows]
    written: list[list[tuple[str, str]]] = [[] for _ in passages]  # a family's passage writes its surfaces
    for name, type_, family in rows:
        written[family].append((name, type_))
    dsn = fresh_database(admin_dsn, config)
    started = time.perf_counter()
    found = resolve_list(dsn, surfaces, lambda conn: load_documents(
        conn, [(f"family {i}", text, names) for i, (text, names) in enumerate(zip(passages, written))]),
        embed, settings)
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
    config = Config.from_env({"POLYMATH_EMBEDDING_MODEL": "packaged-minilm"})
    settings = ResolverSettings.from_config(config)
    encoder = name_encoder(config, device="cpu")
    home = Path(tempfile.mkdtemp(prefix="polymath-concepts-bench-"))
    try:
        admin = embedded_postgres.start(home)
        admin = with_database(admin, "postgres")
        names = cached_vectors(encoder.encode)  # the stage-by-stage runs embed the same names
        quality_ner(admin, config, names, settings)
        quality_definitions(admin, config, names, settings)
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
