"""Dense passage embeddings: the encoder (FlagEmbedding), length-sorted batching, and the
shard pipeline that writes vectors to pgvector. No Dagster here."""

from polymath_assets.embedding.batching import length_sorted_batches
from polymath_assets.embedding.encoder import Encoder, EncoderError, resolve_model_path
from polymath_assets.embedding.pipeline import EmbeddingDimensionMismatch, EmbedResult, embed_shard

__all__ = [
    "EmbedResult",
    "EmbeddingDimensionMismatch",
    "Encoder",
    "EncoderError",
    "embed_shard",
    "length_sorted_batches",
    "resolve_model_path",
]
