"""A knowledge base big enough to measure the graph on, built in seconds: the synthetic
corpus ingested, then concepts written straight into passage_concepts with COPY (terms
from the lexicon, no extraction run). The caller resolves their surfaces to canonical
concepts (the benchmark with the real name model, tests with distinct vectors). Used by
``benchmarks/graph_bench.py`` and the graph restart test."""

from __future__ import annotations

import random
from pathlib import Path

import psycopg

from polymath_assets.corpus.ingest import ingest_file
from polymath_assets.corpus.lexicon import all_terms
from polymath_assets.corpus.synthetic import documents_for_passages, generate, write_jsonl

RARE_VARIANTS = 3000  # "<term> variant <n>": one rarer concept per passage, so there are thousands of Concept nodes


def write_concepts(conn: psycopg.Connection, folder: Path, passages: int, per_passage: int,
                   rare_variants: int = RARE_VARIANTS, seed: int = 23) -> None:
    """Ingest about ``passages`` synthetic passages and give each ``per_passage`` concepts,
    one of them a rarer variant unless ``rare_variants`` is 0 (then the ~120 lexicon terms
    are the only surfaces, which resolve in seconds); commits."""
    corpus = folder / "corpus.jsonl"
    write_jsonl(corpus, generate(documents_for_passages(passages), seed=seed))
    rng = random.Random(5)
    terms = all_terms()
    ingest_file(conn, corpus)
    ids = [r[0] for r in conn.execute("SELECT passage_id FROM passages").fetchall()]
    with conn.cursor().copy("COPY passage_concepts (passage_id, concept_name, concept_type, confidence, "
                            "extractor_model, extractor_version) FROM STDIN") as copy:
        for pid in ids:
            for name, kind in rng.sample(terms, per_passage - 1 if rare_variants else per_passage):
                copy.write_row((pid, name, kind, round(rng.uniform(0.72, 0.99), 2), "bench", "gemini_batch_v1"))
            if rare_variants:
                name, kind = rng.choice(terms)
                copy.write_row((pid, f"{name} variant {rng.randrange(rare_variants)}", kind, 0.8, "bench",
                                "gemini_batch_v1"))
    conn.commit()


def merged_mentions(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM passage_concepts_merged").fetchone()[0]
