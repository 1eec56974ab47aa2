"""Vectors of concept names with the configured embedding model (the same model as the
passages, so one model is loaded and its dimension matches ``{{EMBEDDING_DIM}}``)."""

from __future__ import annotations

# Names are a few tokens: a short limit keeps padding (and CPU time) small.
NAME_MAX_TOKENS = 32
NAME_BATCH = 256


def name_encoder(config, device: str | None = None):
    from polymath_assets.embedding.encoder import Encoder

    return Encoder(config.embedding_model, device=device or config.embedding_device, fp16=config.embedding_fp16,
                   batch_size=NAME_BATCH, max_length=NAME_MAX_TOKENS)


def name_vectors(encoder):
    """``names -> vectors`` with any loaded encoder (the passages' own, in a pipeline run),
    in the short-name batch settings."""
    return lambda names: encoder.encode(names, batch_size=NAME_BATCH, max_length=NAME_MAX_TOKENS)
