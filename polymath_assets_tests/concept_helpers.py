"""Resolving surfaces to canonical concepts in tests that are about something else (the
graph, the pipeline plumbing): the real resolver and its SQL, with name vectors that put
every distinct name in its own direction. So the key and acronym stages merge as they
do in production and the embedding stage merges nothing, which keeps those tests'
expectations independent of a model. Resolution quality is tested with the real
model in test_concepts_db."""

from __future__ import annotations

import hashlib

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
