"""Canonical concepts: one idea, one node.

Surfaces written by extractors (``CNN``, ``convolutional neural networks``, ``ConvNet``) are
resolved to canonical concepts in stages, each recorded as the alias's reason: a
normalization key, acronym/expansion pairs found in the passages, and embedding
neighbours of the names (blocked by an HNSW index in pgvector). Logic here is pure; the SQL
lives in ``polymath_assets.kb.canonical``.
"""
