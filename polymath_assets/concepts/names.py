"""Vectors of concept names with the configured embedding model (the same model as the
passages, so one model is loaded and its dimension matches ``{{EMBEDDING_DIM}}``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

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


def cached_vectors(embed: Callable[[list[str]], np.ndarray]) -> Callable[[list[str]], np.ndarray]:
    """``embed`` with each distinct name embedded once across calls: for work that resolves
    the same names many times (a calibration's thresholds, the benchmark's stages)."""
    vectors: dict[str, np.ndarray] = {}

    def encode(names: list[str]) -> np.ndarray:
        todo = [n for n in dict.fromkeys(names) if n not in vectors]
        if todo:
            vectors.update(zip(todo, embed(todo)))
        return np.vstack([vectors[n] for n in names]) if names else np.zeros((0, 1), dtype=np.float32)

    return encode
