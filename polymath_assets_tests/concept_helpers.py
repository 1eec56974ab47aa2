"""Resolving surfaces to canonical concepts in tests that are about something else (the
graph, the pipeline plumbing): the real resolver and its SQL, with name vectors that put
every distinct name in its own direction. So the key and acronym stages merge as they
do in production and the embedding stage merges nothing, which keeps those tests'
expectations independent of a model. Resolution quality is tested with the real
model in test_concepts_db."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable

import numpy as np
import psycopg

from polymath_assets.concepts import pipeline
from polymath_assets.concepts.resolver import ResolverSettings
from polymath_assets.config import Config

SETTINGS = ResolverSettings.from_config(Config.from_env({}))


def name_vector_dim(conn: psycopg.Connection) -> int:
    """The dimension of concepts.name_embedding in this database (a vector's typmod)."""
    return conn.execute("SELECT atttypmod FROM pg_attribute WHERE attrelid = 'concepts'::regclass "
                        "AND attname = 'name_embedding'").fetchone()[0]


def distinct_name_vectors(dim: int):
    def encode(names: list[str]) -> np.ndarray:
        out = np.empty((len(names), dim), dtype=np.float32)
        for i, name in enumerate(names):
            seed = int.from_bytes(hashlib.sha256(name.encode("utf-8", "surrogatepass")).digest()[:8], "big")
            vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
            out[i] = vector / np.linalg.norm(vector)
        return out

    return encode


def resolve_all(conn: psycopg.Connection, *, full: bool = False) -> pipeline.RunSummary:
    """What the canonical_concepts asset does before a graph sync; commits."""
    summary = pipeline.resolve_corpus(conn, distinct_name_vectors(name_vector_dim(conn)), SETTINGS, full=full)
    conn.commit()
    return summary


def load_documents(conn: psycopg.Connection, passages: Iterable[tuple[str, str, list[tuple[str, str]]]], *,
                   year: int | None = None) -> list[str]:
    """Passages as [(document title, passage text, [(surface, type)])] with the concept rows
    an extractor would have written for them, by COPY: passages with one title in one call
    share a document (a new one per call). Returns the passage ids in order; does not commit."""
    documents: dict[str, uuid.UUID] = {}
    rows = [(documents.setdefault(title, uuid.uuid4()), uuid.uuid4(), text, concepts)
            for title, text, concepts in passages]
    with conn.cursor() as cur:
        with cur.copy("COPY documents (doc_id, title, year) FROM STDIN") as copy:
            for title, doc in documents.items():
                copy.write_row((doc, title, year))
        with cur.copy("COPY passages (passage_id, doc_id, passage_text) FROM STDIN") as copy:
            for doc, pid, text, _ in rows:
                copy.write_row((pid, doc, text))
        with cur.copy("COPY passage_concepts (passage_id, concept_name, concept_type, confidence, extractor_model, "
                      "extractor_version) FROM STDIN") as copy:
            for _, pid, _, concepts in rows:
                for name, type_ in concepts:
                    copy.write_row((pid, name, type_, 0.9, "test-extractor", "gemini_batch_v1"))
    return [str(pid) for _, pid, _, _ in rows]
