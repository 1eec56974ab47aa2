"""Passage embeddings: real FlagEmbedding on the packaged small model (384-d) writing into
a real embedded PostgreSQL with pgvector. One encoder serves the whole module (loading it
is the slow part)."""

from __future__ import annotations

import logging
import uuid

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector

from polymath_assets.embedding import (
    EmbeddingDimensionMismatch,
    Encoder,
    embed_shard,
    length_sorted_batches,
)
from polymath_assets.embedding.encoder import resolve_device, resolve_fp16
from polymath_assets.kb import embeddings as kb_embeddings
from polymath_assets.kb.migrate import migrate
from polymath_assets_tests.extraction_helpers import load_sample

SHARDS = 8  # ~48 of the 384 sample passages per shard: quick to encode on CPU


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder("packaged-minilm", device="cpu", batch_size=16, max_length=256)


@pytest.fixture
def db384(new_database):
    """A 384-d knowledge base holding the sample corpus."""
    with psycopg.connect(new_database()) as conn:
        migrate(conn, embedding_dim=384, shard_count=SHARDS, merge_preference=("gemini_batch_v1",),
                confidence_floor=0.7)
        conn.commit()
        load_sample(conn)
        yield conn


def shard_size(conn, shard: int) -> int:
    return kb_embeddings.embedding_coverage(conn, shard, SHARDS, "any")[1]


class Renamed:
    """The same model under another configured name (what a model change looks like)."""

    def __init__(self, inner: Encoder, name: str, fail_on_call: int | None = None):
        self.inner, self.name, self.batch_size = inner, name, inner.batch_size
        self.dimension = inner.dimension
        self.calls, self.fail_on_call = 0, fail_on_call

    def encode(self, texts):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise KeyboardInterrupt("interrupted mid-run")
        return self.inner.encode(texts)


def test_encoder_gives_unit_float32_rows_in_input_order(encoder):
    texts = ["short", "a much longer passage about protein folding and density functional theory", ""]
    vectors = encoder.encode(texts)
    assert encoder.dimension == 384 and encoder.device == "cpu" and encoder.name == "packaged-minilm"
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Order is the caller's, although FlagEmbedding sorts by length inside.
    assert np.allclose(encoder.encode([texts[1]])[0], vectors[1], atol=1e-5)
    assert encoder.encode([]).shape == (0, 384)


def test_shard_run_embeds_each_passage_once_and_records_model(db384, encoder):
    n = shard_size(db384, 3)
    assert n > 0
    first = embed_shard(db384, encoder, shard=3, shard_count=SHARDS, chunk=20)
    assert (first.embedded, first.skipped_already_done, first.remaining) == (n, 0, 0)
    assert first.batches == sum(-(-size // 16) for size in [20] * (n // 20) + ([n % 20] if n % 20 else []))
    assert kb_embeddings.embedding_coverage(db384, 3, SHARDS, "packaged-minilm") == (n, n)
    rows = db384.execute("""SELECT count(*), count(DISTINCT embedding_model), min(embedding_model),
                                   min(vector_norm(embedding)), max(vector_norm(embedding))
                            FROM passages WHERE embedding IS NOT NULL""").fetchone()
    assert rows[:3] == (n, 1, "packaged-minilm")  # only this shard, model recorded
    assert rows[3] == pytest.approx(1.0, abs=1e-5) and rows[4] == pytest.approx(1.0, abs=1e-5)
    # Other shards untouched, so the index waits for the backfill to finish.
    assert first.index.startswith("deferred")
    assert not kb_embeddings.hnsw_index_exists(db384)

    second = embed_shard(db384, encoder, shard=3, shard_count=SHARDS)
    assert (second.embedded, second.batches, second.skipped_already_done) == (0, 0, n)


def test_full_run_builds_hnsw_index_and_a_passage_finds_itself(db384, encoder):
    result = embed_shard(db384, encoder, shard=None, shard_count=SHARDS, chunk=128)
    assert result.embedded == 384 and result.remaining == 0 and result.index == "created"
    indexdef = db384.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s",
                             (kb_embeddings.HNSW_INDEX,)).fetchone()[0]
    assert "hnsw" in indexdef and "vector_cosine_ops" in indexdef

    register_vector(db384)
    probes = db384.execute("""SELECT passage_id::text, passage_text FROM passages p
                              WHERE (SELECT count(*) FROM passages q WHERE q.passage_text = p.passage_text) = 1
                              ORDER BY passage_id LIMIT 5""").fetchall()
    for (passage_id, text), query in zip(probes, encoder.encode([t for _, t in probes])):
        with db384.transaction():
            db384.execute("SET LOCAL enable_seqscan = off")  # answer through the HNSW index
            found = db384.execute("SELECT passage_id::text FROM passages ORDER BY embedding <=> %s LIMIT 1",
                                  (query,)).fetchone()[0]
        assert found == passage_id
    assert embed_shard(db384, encoder, shard=None, shard_count=SHARDS, rebuild_index=True,
                       index_memory="256MB").index == "rebuilt"


def test_dimension_mismatch_raises_before_anything_is_written(kb, encoder):
    load_sample(kb)  # the kb fixture is migrated for 1024-d vectors
    with pytest.raises(EmbeddingDimensionMismatch) as raised:
        embed_shard(kb, encoder, shard=None, shard_count=SHARDS)
    message = str(raised.value)
    assert "384" in message and "1024" in message
    assert "POLYMATH_EMBEDDING_MODEL" in message and "POLYMATH_EMBEDDING_DIM" in message
    kb.rollback()
    assert kb.execute("SELECT count(*) FROM passages WHERE embedding IS NOT NULL").fetchone()[0] == 0
    assert not kb_embeddings.hnsw_index_exists(kb)


def test_model_change_makes_passages_missing_again(db384, encoder):
    n = shard_size(db384, 5)
    embed_shard(db384, encoder, shard=5, shard_count=SHARDS)
    assert kb_embeddings.count_missing(db384, 5, SHARDS, "packaged-minilm") == 0
    assert kb_embeddings.count_missing(db384, 5, SHARDS, "another-model") == n

    result = embed_shard(db384, Renamed(encoder, "another-model"), shard=5, shard_count=SHARDS)
    assert (result.embedded, result.skipped_already_done) == (n, 0)
    assert db384.execute("SELECT DISTINCT embedding_model FROM passages WHERE embedding IS NOT NULL"
                         ).fetchall() == [("another-model",)]


def test_interrupted_run_keeps_committed_chunks_and_rerun_finishes(db384, encoder):
    n = shard_size(db384, 1)
    assert n > 10
    with pytest.raises(KeyboardInterrupt):
        embed_shard(db384, Renamed(encoder, "packaged-minilm", fail_on_call=2), shard=1, shard_count=SHARDS, chunk=10)
    db384.rollback()
    assert kb_embeddings.embedding_coverage(db384, 1, SHARDS, "packaged-minilm") == (10, n)
    rerun = embed_shard(db384, encoder, shard=1, shard_count=SHARDS, chunk=10)
    assert (rerun.embedded, rerun.skipped_already_done, rerun.remaining) == (n - 10, 10, 0)


def test_write_embeddings_updates_known_passages_only_in_one_statement(db384):
    ids = [r[0] for r in db384.execute("SELECT passage_id::text FROM passages ORDER BY passage_id LIMIT 3")]
    vectors = np.eye(4, 384, dtype=np.float32)
    written = kb_embeddings.write_embeddings(db384, zip(ids + [str(uuid.uuid4())], vectors), "hand-made")
    db384.commit()
    assert written == 3
    assert kb_embeddings.count_missing(db384, None, SHARDS, "hand-made") == 384 - 3
    # A vector of the wrong dimension fails the whole write: nothing is half-stored.
    with pytest.raises(psycopg.errors.DataException):
        kb_embeddings.write_embeddings(db384, [(ids[0], np.ones(1024, dtype=np.float32))], "wrong")
    db384.rollback()
    assert kb_embeddings.count_missing(db384, None, SHARDS, "wrong") == 384


@pytest.mark.parametrize("requested", ["cuda", "cuda:0", "cuda:7"])
def test_missing_cuda_falls_back_to_cpu_with_a_warning(requested, caplog):
    import torch

    if torch.cuda.is_available() and requested != "cuda:7":
        pytest.skip("CUDA is available here")
    with caplog.at_level(logging.WARNING, logger="polymath_assets.embedding.encoder"):
        assert resolve_device(requested) == "cpu"
    assert "embedding on CPU" in caplog.text


@pytest.mark.parametrize("setting, device, expected", [
    ("auto", "cuda:0", True), ("auto", "cpu", False), ("1", "cuda:0", True),
    ("1", "cpu", False), ("0", "cuda:0", False), ("false", "cpu", False),
])
def test_half_precision_only_on_gpu(setting, device, expected):
    assert resolve_fp16(setting, device) is expected


def test_bad_device_setting_names_the_variable():
    with pytest.raises(ValueError, match="POLYMATH_EMBEDDING_DEVICE"):
        resolve_device("tpu")


@pytest.mark.parametrize("items, size, expected", [
    ([], 4, []),
    ([("a", "xx")], 4, [[("a", "xx")]]),
    # longest first, so each batch holds similar lengths
    ([("a", "x"), ("b", "xxx"), ("c", "xx"), ("d", "xxxx")], 2,
     [[("d", "xxxx"), ("b", "xxx")], [("c", "xx"), ("a", "x")]]),
    # equal lengths: passage id decides, whatever the input order
    ([("c", "yy"), ("a", "zz"), ("b", "xx")], 2, [[("a", "zz"), ("b", "xx")], [("c", "yy")]]),
    # the last batch may be short
    ([(str(i), "x" * i) for i in range(5)], 2,
     [[("4", "xxxx"), ("3", "xxx")], [("2", "xx"), ("1", "x")], [("0", "")]]),
])
def test_length_sorted_batches(items, size, expected):
    assert length_sorted_batches(items, size) == expected
    assert length_sorted_batches(list(reversed(items)), size) == expected  # deterministic


def test_length_sorted_batches_refuses_empty_batches():
    with pytest.raises(ValueError):
        length_sorted_batches([("a", "x")], 0)
