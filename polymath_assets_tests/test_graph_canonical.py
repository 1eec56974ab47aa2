"""The graph shows canonical concepts: one Concept node per idea with its preferred name and
aliases, MENTIONS that keep the surface as written; operators' merges, splits and undos
and a full re-resolution reach the graph through the change logs, checked by the
content reconciliation. Real PostgreSQL, the packaged small model, the embedded graph."""

from __future__ import annotations

from dataclasses import replace

import psycopg
import pytest

from polymath_assets.concepts import pipeline
from polymath_assets.concepts.resolver import ResolverSettings, Surface
from polymath_assets.concepts.rules import TypeRules
from polymath_assets.config import Config
from polymath_assets.graph import reconcile, sync_shard
from polymath_assets.graph.reconcile import graph_content
from polymath_assets.kb import concept_ops

from .concept_helpers import load_documents

SHARDS = Config.from_env().shard_count  # what conftest migrates dsn384 with
SETTINGS = ResolverSettings.from_config(Config.from_env({"POLYMATH_EMBEDDING_MODEL": "packaged-minilm"}))
RULES = TypeRules.parse(Config.from_env({}).concept_type_pairs)
NEXT_VERSION = SETTINGS.version + "-next"

PASSAGES = [
    ("We train a convolutional neural network (CNN) on it's \"images\".",
     [("convolutional neural network", "method"), ("CNN", "method"), ("images", "dataset")]),
    ("Convolutional neural networks beat a long short-term memory (LSTM) on C:\\corpus.",
     [("Convolutional neural networks", "method"), ("long short-term memory", "method"), ("LSTM", "method")]),
    ("CNNs and LSTMs were evaluated on ImageNet.",
     [("CNNs", "method"), ("LSTMs", "method"), ("ImageNet", "dataset")]),
    ("Recurrent models and the Transformer were compared on ImageNet.",
     [("recurrent models", "method"), ("Transformer", "method"), ("ImageNet", "dataset")]),
]


@pytest.fixture
def kb384(dsn384):
    with psycopg.connect(dsn384) as conn:
        yield conn


def _load(conn) -> list[str]:
    ids = load_documents(conn, [("Alzheimer's \"networks\" \\ study", text, concepts) for text, concepts in PASSAGES],
                         year=2020)
    conn.commit()
    return ids


def _sync(conn, graph, full=False):
    result = sync_shard(conn, graph, shard=None, shard_count=SHARDS, batch_size=50, full=full)
    check = reconcile(conn, graph, shard=None, shard_count=SHARDS)
    assert check.ok, check.differences
    return result


def _resolve(conn, minilm_names, full=False):
    summary = pipeline.resolve_corpus(conn, minilm_names.encode, SETTINGS, full=full)
    conn.commit()
    return summary


def _node_of(graph, surface: str) -> dict:
    rows = graph.records("MATCH (:Passage)-[m:MENTIONS {surface: $s}]->(c:Concept) "
                         "RETURN DISTINCT c.concept_id AS id, c.name AS name, c.aliases AS aliases", s=surface)
    assert len(rows) == 1, rows
    return rows[0]


def _view(conn):
    rows = conn.execute("SELECT passage_id, concept_name, concept_type, concept_id, preferred_name "
                        "FROM passage_concepts_canonical ORDER BY 1, 2, 3").fetchall()
    conn.commit()
    return rows


def _concept(conn, surface: str) -> int:
    return conn.execute("SELECT concept_id FROM concept_aliases WHERE surface = %s", (surface,)).fetchone()[0]


def test_one_node_per_idea_carries_its_aliases_and_mentions_keep_the_surface(kb384, graph, minilm_names):
    _load(kb384)
    _resolve(kb384, minilm_names)
    result = _sync(kb384, graph)
    cnn = _node_of(graph, "CNN")
    assert cnn == _node_of(graph, "convolutional neural network") == _node_of(graph, "CNNs")
    assert cnn["name"] == "convolutional neural network"
    assert {"CNN", "CNNs", "convolutional neural network", "Convolutional neural networks"} <= set(cnn["aliases"])
    assert _node_of(graph, "LSTM")["id"] != cnn["id"]
    assert _node_of(graph, "ImageNet")["aliases"] == ["ImageNet"]
    # One node per concept, one MENTIONS per row: fewer nodes than surfaces.
    surfaces = kb384.execute("SELECT count(DISTINCT (concept_name, concept_type)) FROM passage_concepts").fetchone()[0]
    kb384.commit()
    assert result.counts["mentions"] == sum(len(c) for _, c in PASSAGES)
    assert result.counts["concepts"] < surfaces
    assert graph.records("MATCH (c:Concept:Method {concept_id: $id}) RETURN c.type AS type", id=cnn["id"]) == [
        {"type": "method"}]


def test_rows_wait_for_their_surface_to_be_resolved_then_reach_the_graph(kb384, graph, minilm_names):
    passages = _load(kb384)
    waiting = sync_shard(kb384, graph, shard=None, shard_count=SHARDS, batch_size=50)
    assert waiting.unresolved == sum(len(c) for _, c in PASSAGES) and waiting.counts["mentions"] == 0
    assert graph.records("MATCH (p:Passage) RETURN count(p) AS n") == [{"n": 0}]
    _resolve(kb384, minilm_names)  # its aliases log the passages for the next, incremental, sync
    result = _sync(kb384, graph)
    assert result.full_reason is None and result.claimed_passages == len(passages)
    assert result.unresolved == 0 and result.counts["passages"] == len(passages)


def test_a_merge_and_its_undo_reach_the_graph_and_the_undo_restores_it(kb384, graph, minilm_names):
    _load(kb384)
    _resolve(kb384, minilm_names)
    _sync(kb384, graph)
    before_graph, before_view = graph_content(graph, None), _view(kb384)
    cnn, lstm = _concept(kb384, "CNN"), _concept(kb384, "LSTM")

    merge_id = concept_ops.merge(kb384, lstm, cnn, actor="test", rules=RULES)
    kb384.commit()
    merged = _sync(kb384, graph)
    assert merged.full_reason is None and merged.claimed_passages == 2  # the passages writing LSTM, LSTMs
    assert _node_of(graph, "LSTM") == _node_of(graph, "CNN")
    assert {"LSTM", "long short-term memory"} <= set(_node_of(graph, "CNN")["aliases"])
    assert graph.records("MATCH (c:Concept {concept_id: $id}) RETURN count(c) AS n", id=lstm) == [{"n": 0}]

    concept_ops.undo(kb384, merge_id, actor="test")
    kb384.commit()
    _sync(kb384, graph)
    assert _view(kb384) == before_view
    after = graph_content(graph, None)
    assert {kind: sorted(rows, key=repr) for kind, rows in after.items()} == \
        {kind: sorted(rows, key=repr) for kind, rows in before_graph.items()}
    assert kb384.execute("SELECT count(*) FROM graph_changes").fetchone()[0] == 0
    assert kb384.execute("SELECT count(*) FROM graph_concept_changes").fetchone()[0] == 0


def test_a_split_survives_a_full_re_resolution_and_the_graph_follows_both(kb384, graph, minilm_names):
    _load(kb384)
    _resolve(kb384, minilm_names)
    _sync(kb384, graph)
    cnn = _concept(kb384, "CNN")
    _, own = concept_ops.split(kb384, "CNNs", "method", actor="test", version=SETTINGS.version)
    kb384.commit()
    _sync(kb384, graph)
    assert _node_of(graph, "CNNs") == {"id": own, "name": "CNNs", "aliases": ["CNNs"]}
    assert "CNNs" not in _node_of(graph, "CNN")["aliases"] and _node_of(graph, "CNN")["id"] == cnn

    _resolve(kb384, minilm_names, full=True)  # every unpinned alias decided again, new concept ids
    result = _sync(kb384, graph)
    assert result.full_reason is None and result.claimed_passages == len(PASSAGES)
    assert _node_of(graph, "CNNs")["id"] == own and _node_of(graph, "CNN")["id"] != own
    assert _node_of(graph, "CNN") == _node_of(graph, "convolutional neural network")


def test_an_alias_added_without_a_passage_refreshes_the_node_in_place(kb384, graph, minilm_names):
    _load(kb384)
    _resolve(kb384, minilm_names)
    _sync(kb384, graph)
    # `polymath concepts resolve --save` path: a name no passage writes joins a concept.
    variant = "Convolutional-Neural Network"
    pipeline.resolve_names(kb384, [Surface(variant, "method")], minilm_names.encode, SETTINGS)
    kb384.commit()
    assert _concept(kb384, variant) == _concept(kb384, "CNN")  # the key stage
    result = _sync(kb384, graph)
    assert result.claimed_passages == 0 and result.refreshed_concepts == 1
    assert variant in _node_of(graph, "CNN")["aliases"]


def test_a_resolver_version_change_re_resolves_everything_and_the_graph_follows(kb384, graph, minilm_names):
    _load(kb384)
    _resolve(kb384, minilm_names)
    _sync(kb384, graph)
    first = _node_of(graph, "CNN")
    summary = pipeline.resolve_corpus(kb384, minilm_names.encode, replace(SETTINGS, version=NEXT_VERSION))
    kb384.commit()
    assert summary.full_reason == f"the resolver version changed ({SETTINGS.version} -> {NEXT_VERSION})"
    assert kb384.execute("SELECT DISTINCT resolver_version FROM concept_aliases").fetchall() == [(NEXT_VERSION,)]
    kb384.commit()
    result = _sync(kb384, graph)  # incremental: the alias log names every passage
    assert result.full_reason is None and result.claimed_passages == len(PASSAGES)
    again = _node_of(graph, "CNN")
    assert again["id"] != first["id"] and again["aliases"] == first["aliases"]
    assert graph.records("MATCH (c:Concept {concept_id: $id}) RETURN count(c) AS n", id=first["id"]) == [{"n": 0}]
    rerun = pipeline.resolve_corpus(kb384, minilm_names.encode, replace(SETTINGS, version=NEXT_VERSION))
    assert rerun.full_reason is None and rerun.surfaces == 0  # the same version again: incremental, nothing new


def test_operator_merges_syncs_the_graph_and_undoes_from_the_cli(dsn384, graph, graph_server, minilm_names, tmp_path):
    """The operator's path: `concepts merge`, `graph sync` (reconciles, exit 0), `graph
    query` shows one node, `concepts undo`, `graph sync` again."""
    import json

    from click.testing import CliRunner

    from polymath_assets.cli import main

    dsn = dsn384
    with psycopg.connect(dsn) as conn:
        _load(conn)
        _resolve(conn, minilm_names)
    env = {"POSTGRES_DSN": dsn, "NEO4J_URI": graph_server, "POLYMATH_HOME": str(tmp_path / "home"),
           "POLYMATH_EMBEDDING_MODEL": "packaged-minilm", "POLYMATH_EMBEDDING_DIM": "384"}
    cli = CliRunner(env=env)

    def run(*args):
        result = cli.invoke(main, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    def nodes_of(surface):
        return json.loads(run("graph", "query", "MATCH (:Passage)-[m:MENTIONS]->(c:Concept) WHERE m.surface = $s "
                              "RETURN DISTINCT c.concept_id AS id, c.aliases AS aliases", "--param", f"s={surface}",
                              "--json"))

    first = run("graph", "sync")
    assert "full (first sync of the shard)" in first and "FAILED" not in first
    lstm = nodes_of("LSTM")
    merged = run("concepts", "merge", "LSTM", "CNN")
    assert "the graph follows at its next sync" in merged
    merge_id = int(merged.split("(merge ")[1].split(";")[0])
    synced = run("graph", "sync")
    assert "incremental" in synced and "reconciliation ok" in synced and "FAILED" not in synced
    assert nodes_of("LSTM") == nodes_of("CNN") and "LSTM" in nodes_of("CNN")[0]["aliases"]
    run("concepts", "undo", str(merge_id))
    assert "FAILED" not in run("graph", "sync")
    assert nodes_of("LSTM") == lstm
    # A graph changed behind the sync's back does not reconcile: exit 1 with what to do; --full repairs it.
    graph.run("MATCH (c:Concept) WHERE 'CNN' IN c.aliases SET c.aliases = ['tampered']")
    tampered = cli.invoke(main, ["graph", "sync"])
    assert tampered.exit_code == 1 and "do not reconcile" in tampered.output and "--full" in tampered.output
    assert "FAILED" not in run("graph", "sync", "--full")


def _add(conn, text: str, concepts: list[tuple[str, str]]) -> None:
    """One passage of a paper of its own."""
    load_documents(conn, [("another paper", text, concepts)])
    conn.commit()


def test_a_definition_learned_later_merges_in_the_graph_too(kb384, graph, minilm_names):
    """GAN and its expansion were two nodes (nothing defined GAN); a passage that defines
    it arrives, the next run decides the acronym again, and the sync shows one node."""
    _load(kb384)
    _add(kb384, "A GAN and GANs generate faces.", [("GAN", "method"), ("GANs", "method")])
    _add(kb384, "Generative adversarial networks are unstable.", [("Generative adversarial networks", "method")])
    _resolve(kb384, minilm_names)
    _sync(kb384, graph)
    assert _node_of(graph, "GAN")["id"] != _node_of(graph, "Generative adversarial networks")["id"]
    _add(kb384, "We train generative adversarial networks (GANs).", [("generative adversarial networks", "method")])
    summary = _resolve(kb384, minilm_names)
    assert summary.redecided == 2
    _sync(kb384, graph)
    node = _node_of(graph, "GAN")
    assert node == _node_of(graph, "GANs") == _node_of(graph, "Generative adversarial networks")
    assert {"GAN", "GANs", "generative adversarial networks"} <= set(node["aliases"])


def test_a_variant_rule_merge_is_traced_split_and_undone_and_the_graph_follows(kb384, graph, minilm_names):
    """``tokenisation`` joined ``tokenization`` by the spelling rule: its stage says so; the
    operator splits it off (two nodes), and the undo puts it back (one node)."""
    _load(kb384)
    _add(kb384, "Tokenization of text, and tokenisation too.", [("tokenization", "method"), ("tokenisation", "method")])
    _resolve(kb384, minilm_names)
    _sync(kb384, graph)
    stages = dict(kb384.execute("SELECT surface, stage FROM concept_aliases WHERE surface LIKE 'tokeni%'").fetchall())
    kb384.commit()
    assert sorted(stages.values()) == ["new", "spelling"]
    british = next(s for s, stage in stages.items() if stage == "spelling")
    one = _node_of(graph, "tokenization")
    assert one == _node_of(graph, "tokenisation")
    split_id, own = concept_ops.split(kb384, british, "method", actor="test", version=SETTINGS.version)
    kb384.commit()
    _sync(kb384, graph)
    assert _node_of(graph, british) == {"id": own, "name": british, "aliases": [british]}
    concept_ops.undo(kb384, split_id, actor="test")
    kb384.commit()
    _sync(kb384, graph)
    assert _node_of(graph, "tokenisation") == _node_of(graph, "tokenization") == one
