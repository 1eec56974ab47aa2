"""Acceptance on real text: SciERC abstracts whose titles and passages carry ', " and \\
(as real titles do: "Alzheimer's disease ...") sync into the embedded graph shard by
shard after the resolver (real model) has mapped their surfaces to canonical concepts,
every shard reconciles, one node carries the variants of one idea, and `polymath verify`
passes end to end."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import psycopg
import pytest

from polymath_assets.concepts.pipeline import resolve_corpus
from polymath_assets.concepts.resolver import ResolverSettings
from polymath_assets.config import Config
from polymath_assets.embedding.encoder import Encoder
from polymath_assets.embedding.pipeline import embed_shard
from polymath_assets.graph import reconcile, sync_shard
from polymath_assets.kb.migrate import migrate
from polymath_assets_tests.real_text import load_scierc

SHARDS = 64
ABSTRACTS = 160
TYPES = {"Task": "problem", "Method": "method", "Metric": "metric", "Material": "dataset",
         "OtherScientificTerm": "entity"}
DECORATIONS = ("{}: it's \"hard\"", "Alzheimer's disease and {}", "{} \\ a C:\\path\\ and \"quotes\"", "{}")


def _load(conn) -> None:
    for i, row in enumerate(load_scierc()[:ABSTRACTS]):
        doc_id = uuid.uuid5(uuid.NAMESPACE_URL, f"scierc:{row['doc_id']}")
        passage_id = uuid.uuid5(doc_id, "abstract")
        title = DECORATIONS[i % len(DECORATIONS)].format(" ".join(row["passage_text"].split()[:6]))
        text = row["passage_text"] if i % 3 else "It's a \"test\" \\ of " + row["passage_text"]
        conn.execute("INSERT INTO documents (doc_id, title, year, doi) VALUES (%s, %s, 2018, %s)",
                     (doc_id, title, f"10.0000/scierc.{i}"))
        conn.execute("INSERT INTO passages (passage_id, doc_id, section, passage_text) VALUES (%s, %s, 'abstract', %s)",
                     (passage_id, doc_id, text))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO passage_concepts (passage_id, concept_name, concept_type, confidence, extractor_model, "
                "extractor_version) VALUES (%s, %s, %s, 0.9, 'scierc-gold', 'gemini_batch_v1') ON CONFLICT DO NOTHING",
                [(passage_id, m["text"], TYPES[m["type"]]) for m in row["mentions"] if m["type"] in TYPES])
    conn.commit()


@pytest.mark.slow
def test_real_abstracts_with_quotes_sync_every_shard_and_verify_passes(new_database, graph, graph_server, tmp_path):
    dsn = new_database()
    with psycopg.connect(dsn) as conn:
        migrate(conn, embedding_dim=384, shard_count=SHARDS, merge_preference=("gemini_batch_v1",),
                confidence_floor=0.7)
        _load(conn)
        encoder = Encoder("packaged-minilm", device="cpu", batch_size=16, max_length=256)
        embed_shard(conn, encoder, shard=None, shard_count=SHARDS, create_index=True)
        resolve_corpus(conn, encoder.encode, ResolverSettings.from_config(Config.from_env({"POLYMATH_EMBEDDING_MODEL": "packaged-minilm"})))
        shards = [s for (s,) in conn.execute(f"SELECT DISTINCT shard_hash % {SHARDS} FROM passages ORDER BY 1")]
        conn.commit()
        assert len(shards) > 40
        for shard in shards:
            result = sync_shard(conn, graph, shard=shard, shard_count=SHARDS, batch_size=1000)
            assert result.counts["passages"] > 0
            check = reconcile(conn, graph, shard=shard, shard_count=SHARDS)
            assert check.ok, (shard, check.differences)
        assert reconcile(conn, graph, shard=None, shard_count=SHARDS).ok
    titles = {r["t"] for r in graph.records("MATCH (d:Paper) RETURN d.title AS t")}
    assert any("Alzheimer's disease" in t for t in titles) and any("C:\\path\\" in t for t in titles)
    # Canonical concepts: some node carries several surfaces, and its mentions keep them.
    merged = graph.records("MATCH (p:Passage)-[m:MENTIONS]->(c:Concept) WITH c, collect(DISTINCT m.surface) AS written "
                           "WHERE size(written) > 1 RETURN c.aliases AS aliases, written LIMIT 1")
    assert merged and set(merged[0]["written"]) <= set(merged[0]["aliases"]), merged

    env = {**os.environ, "POSTGRES_DSN": dsn, "NEO4J_URI": graph_server, "POLYMATH_HOME": str(tmp_path / "home"),
           "POLYMATH_EMBEDDING_DIM": "384", "POLYMATH_EMBEDDING_MODEL": "packaged-minilm"}
    verify = subprocess.run([sys.executable, "-m", "polymath_assets.cli", "verify"], env=env, capture_output=True,
                            text=True, timeout=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.count("PASS") == 3
