"""Parameters are data: arbitrary unicode — quotes, backslashes, control characters,
10 KB — as Paper titles, passage previews and concept surfaces goes from PostgreSQL
through the real resolver and the real sync into the embedded graph and comes back
verbatim, and a second sync finds every node and relationship again (embedded adapter only:
the tests' Bolt stand-in splices parameters into the query text)."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from polymath_assets.graph import cypher, reconcile, sync_shard
from polymath_assets_tests.concept_helpers import resolve_all

SHARDS = 64
# PostgreSQL text holds any unicode but NUL; lone surrogates are not encodable.
_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
_short = st.text(_chars, min_size=1, max_size=40)
_long = st.builds(lambda s: (s * (10_000 // len(s) + 1))[:10_000], _short)  # 10 KB
hostile = st.one_of(_short, _short.map(lambda s: f"x', doc_id: 'HIJACK{s}\\"), _long)


def _clear(kb, graph) -> None:
    for table in ("passage_concepts", "passages", "documents", "graph_changes", "kb_migrations", "concept_aliases",
                  "concept_resolution_runs", "concept_acronyms", "concept_acronym_scans", "concepts",
                  "graph_concept_changes"):
        kb.execute(f"DELETE FROM {table}")
    kb.commit()
    graph.run("MATCH (n) DETACH DELETE n")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=hostile, text=hostile, name=hostile, section=_short, kind=st.sampled_from(sorted(cypher.CONCEPT_LABELS)))
@example(title="x', doc_id: 'HIJACK", text="it's \"quoted\" \\ back\\slash\n\ttab\r\x01\x7f",
         name="Alzheimer's disease", section="a`b", kind="domain")
@example(title="trailing space ", text="0", name="\r", section="0", kind="dataset")
@example(title="0", text="0", name="ends in a tab\t", section="0", kind="method")
@example(title="0", text="0", name="\x01", section="0", kind="dataset")
def test_hostile_strings_survive_the_sync_verbatim(kb, graph, title, text, name, section, kind):
    _clear(kb, graph)
    doc_id, passage_id = str(uuid.uuid4()), str(uuid.uuid4())
    kb.execute("INSERT INTO documents (doc_id, title, year, doi) VALUES (%s, %s, 2024, '10.1/x')", (doc_id, title))
    kb.execute("INSERT INTO passages (passage_id, doc_id, section, passage_text) VALUES (%s, %s, %s, %s)",
               (passage_id, doc_id, section, text))
    kb.execute("INSERT INTO passage_concepts (passage_id, concept_name, concept_type, confidence, extractor_model, "
               "extractor_version) VALUES (%s, %s, %s, 0.9, 't', 'gemini_batch_v1')", (passage_id, name, kind))
    kb.commit()
    resolve_all(kb)

    result = sync_shard(kb, graph, shard=None, shard_count=SHARDS, batch_size=100)
    assert result.counts == {"papers": 1, "passages": 1, "concepts": 1, "mentions": 1}
    assert graph.records("MATCH (d:Paper) RETURN d.doc_id AS doc_id, d.title AS title, d.year AS year, "
                         "d.doi AS doi") == [{"doc_id": doc_id, "title": title, "year": 2024, "doi": "10.1/x"}]
    assert graph.records("MATCH (p:Passage)-[:FROM_PAPER]->(d:Paper) RETURN p.passage_id AS id, p.doc_id AS doc, "
                         "p.section AS section, p.text_preview AS preview") == [
        {"id": passage_id, "doc": doc_id, "section": section, "preview": text[:200]}]
    for _ in range(2):  # the second, full, sync must find every node and relationship again
        assert graph.records("MATCH (:Passage {passage_id: $p})-[m:MENTIONS]->(c:Concept) RETURN m.surface AS surface, "
                             "m.surface_type AS surface_type, c.name AS name, c.type AS type, c.aliases AS aliases",
                             p=passage_id) == [
            {"surface": name, "surface_type": kind, "name": name, "type": kind, "aliases": [name]}]
        assert graph.records("MATCH (n) RETURN count(n) AS n") == [{"n": 4}]  # + the epoch marker: nothing injected
        check = reconcile(kb, graph, shard=None, shard_count=SHARDS)
        assert check.ok, check.differences
        sync_shard(kb, graph, shard=None, shard_count=SHARDS, batch_size=100, full=True)
