"""Every statement a dialect can send (``cypher.catalogue``), checked three ways:

- its text: the Neo4j dialects' statements are a reviewed snapshot
  (``snapshots/neo4j_dialect.cypher``; after an intended change regenerate it with
  ``POLYMATH_UPDATE_SNAPSHOT=1 pytest polymath_assets_tests/test_neo4j_dialect.py -k snapshot``);
- Neo4j's own Cypher parser (``@neo4j-cypher/language-support``, installed by ``make test``
  into ``tools/cypher-lint``): no syntax error, no deprecation in the current dialect;
- a server: each statement runs, in order, on an emptied graph with sample parameters and
  does what it says — on the embedded graph and the Bolt stand-in in ``make test``, and on a
  real Neo4j (both Neo4j dialects) in ``make test-neo4j``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from polymath_assets.graph import cypher

ROOT = Path(__file__).parents[1]
SNAPSHOT = Path(__file__).parent / "snapshots" / "neo4j_dialect.cypher"
UPDATE_ENV = "POLYMATH_UPDATE_SNAPSHOT"
LINT_DIR = ROOT / "tools" / "cypher-lint"
SHARD = 3


def neo4j_dialect_text() -> str:
    """Every statement of the current Neo4j dialect, then those the early dialect sends differently."""
    current = cypher.catalogue(cypher.NEO4J)
    early = cypher.catalogue(cypher.NEO4J_5_EARLY)
    assert current.keys() == early.keys()
    blocks = [f"// {name}\n{text.strip()};\n" for name, text in current.items()]
    blocks += [f"// {name} [{cypher.NEO4J_5_EARLY}]\n{text.strip()};\n" for name, text in early.items()
               if text != current[name]]
    return "\n".join(blocks)


def test_neo4j_dialect_snapshot():
    found = neo4j_dialect_text()
    if os.environ.get(UPDATE_ENV):
        SNAPSHOT.write_text(found)
    assert SNAPSHOT.exists(), f"no snapshot yet: run with {UPDATE_ENV}=1"
    assert found == SNAPSHOT.read_text(), (
        f"the Neo4j dialect's statements changed; review the difference, then regenerate with {UPDATE_ENV}=1")


def test_every_statement_constant_of_the_module_is_in_the_catalogue():
    """A statement added to cypher.py but not to the catalogue would escape all three checks
    (test_graph also checks that a sync sends nothing outside it)."""
    listed = set(cypher.catalogue(cypher.NEO4J).values()) | set(cypher.catalogue(cypher.FALKORDB).values())
    constants = {name: value for name, value in vars(cypher).items()
                 if name.isupper() and isinstance(value, str) and any(
                     word in value for word in ("MATCH", "MERGE", "CALL", "RETURN"))}
    clauses = {"ORPHAN_CONCEPTS", "ORPHAN_PAPERS"}  # match clauses, listed inside batched deletes
    assert {name for name, value in constants.items() if value not in listed} == clauses
    assert all(any(constants[name] in text for text in listed) for name in clauses)


# ---- Neo4j's own parser ---------------------------------------------------------------------

def lint(statements: dict[str, str]) -> dict[str, list[str]]:
    """name -> Neo4j parser diagnostics ("error: …" / "warning: …"), through tools/cypher-lint."""
    node = shutil.which("node")
    assert node, "node is needed for the Cypher lint: `make test` installs it (apt nodejs)"
    assert (LINT_DIR / "node_modules" / "@neo4j-cypher" / "language-support").is_dir(), (
        "the Cypher lint is not installed: run `make cypher-lint-deps` (make test does)")
    done = subprocess.run([node, str(LINT_DIR / "lint.mjs")], input=json.dumps(statements), text=True,
                          capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_neo4j_parser_accepts_every_statement_and_flags_only_the_early_dialects_subqueries():
    current = cypher.catalogue(cypher.NEO4J)
    early = {f"early {name}": text for name, text in cypher.catalogue(cypher.NEO4J_5_EARLY).items()
             if text != current[name]}
    broken = {"broken": "MATCH (n:Passage RETURN n", "deprecated": "MATCH (n) WHERE id(n) = 1 RETURN n"}
    found = lint({**current, **early, **broken})
    assert {name: notes for name, notes in found.items() if name in current and notes} == {}
    assert early and all(notes and all("CALL subquery without a variable scope clause is deprecated" in note
                                       for note in notes) for name, notes in found.items() if name in early)
    # The parser really parses: a syntax error and a deprecated function are reported.
    assert found["broken"] and found["broken"][0].startswith("error:")
    assert any(note.startswith("warning:") for note in found["deprecated"])


# ---- every statement on a server -------------------------------------------------------------

CONCEPT = {label: i for i, label in enumerate(cypher.CONCEPT_LABELS.values(), start=1)}
MENTION = {"passage_id": "p1", "concept_id": 1, "key": "1|name:back propagation", "surface": "back propagation",
           "surface_type": "name", "confidence": 0.9, "extractor_version": "v1"}


def _params(name: str) -> dict:
    """Sample parameters for each statement of the catalogue (every name must be here)."""
    if name.startswith("merge concepts "):
        label = name.removeprefix("merge concepts ")
        return {"rows": [{"concept_id": CONCEPT[label], "name": f"{label} one", "type": label.lower(),
                          "aliases": [f"{label} one"]}], "synced_at": 1}
    scope = {"shard": SHARD}
    fixed = {
        "create epoch": {"epoch": "e1"},
        "merge papers": {"rows": [{"doc_id": "d1", "title": "Paper one", "year": 2020, "doi": "10.1/one"},
                                  {"doc_id": "d2", "title": "Paper two", "year": None, "doi": None}],
                         "synced_at": 1},
        "merge passages": {"rows": [{"passage_id": "p1", "doc_id": "d1", "section": "abstract",
                                     "text_preview": "We use back propagation.", "shard": SHARD},
                                    {"passage_id": "p2", "doc_id": "d2", "section": "body", "text_preview": "Other.",
                                     "shard": SHARD}], "synced_at": 1},
        "refresh concepts": {"rows": [{"concept_id": 1, "name": "back propagation", "type": "method",
                                       "aliases": ["back propagation", "backprop"]}], "synced_at": 2},
        "prune mentions": {"rows": [{"passage_id": "p1", "keys": [MENTION["key"]]}]},
        "merge mentions": {"rows": [MENTION]},
        "links of passages": {"ids": ["p1", "p2"]},
        "papers of concept": {"concept_id": 1, "limit": 5},
        "traversal": {"limit": 5},
        "delete passages": {"ids": ["p2"]},
        "delete orphan concepts": {"ids": [2]},
        "delete orphan papers": {"docs": ["d2"]},
        "delete stale passages (shard)": {**scope, "synced_at": 2},
        "delete stale passages (all shards)": {"shard": None, "synced_at": 2},
    }
    if name in fixed:
        return fixed[name]
    if name.endswith("(shard)"):
        return scope
    if name.endswith("(all shards)"):
        return {"shard": None}
    return {}


READS = ("read epoch", "links of passages", "count ", "content ", "papers of concept", "traversal", "list indexes")
EXPECTED = {  # what some reads must return at their place in the order
    "read epoch": [{"epoch": "e1"}],
    "count mentions (shard)": [{"passages": 2, "mentions": 1, "concepts": 1}],
    "count papers (all shards)": [{"from_paper": 2, "papers": 2}],
    "count orphans": [{"concepts": len(CONCEPT) - 1, "papers": 0}],
    "papers of concept": [{"doc_id": "d1", "title": "Paper one", "doi": "10.1/one", "passage_id": "p1",
                           "surface": "back propagation", "confidence": 0.9, "extractor_version": "v1"}],
    "content concepts (shard)": [{"concept_id": 1, "type": "method", "name": "back propagation",
                                  "aliases": ["back propagation", "backprop"]}],
}


def run_catalogue(g, dialect: str) -> dict[str, object]:
    """Run every statement of ``dialect`` on ``g`` in catalogue order; name -> its outcome."""
    outcomes = {}
    for name, text in cypher.catalogue(dialect).items():
        params = _params(name)
        if name.startswith("schema "):
            g.run_schema(text)
            outcomes[name] = None
        elif name.startswith(READS):
            outcomes[name] = g.records(text, **params)
        elif "CALL" in text and "IN TRANSACTIONS" in text:
            outcomes[name] = g.run_in_transactions(text, **params).get("nodes_deleted", 0)
        elif name.startswith("delete") and "LIMIT" in text:
            outcomes[name] = g.write_count(text, **params)
        else:
            outcomes[name] = g.run(text, **params)
    return outcomes


@pytest.fixture(params=["falkordb", "neo4j"])
def server(request):
    return request.getfixturevalue("graph" if request.param == "falkordb" else "neo4j_graph")


def test_every_statement_of_the_dialect_runs_and_does_what_it_says(server):
    dialects = cypher.NEO4J_DIALECTS if server.dialect in cypher.NEO4J_DIALECTS else (server.dialect,)
    for dialect in dialects:
        server.run("MATCH (n) DETACH DELETE n")
        if dialect == cypher.FALKORDB:  # its CREATE INDEX fails on an index that exists (earlier tests')
            for row in server.records(cypher.FALKORDB_LIST_INDEXES):
                for prop in row["properties"]:
                    server.run(cypher.falkordb_drop_index(row["label"], prop))
        outcomes = run_catalogue(server, dialect)
        for name, rows in EXPECTED.items():
            assert outcomes[name] == rows, (dialect, name)
        deleted = {name: n for name, n in outcomes.items() if name.startswith("delete ")}
        assert deleted["delete passages"] == {"nodes_deleted": 1, "relationships_deleted": 1}, dialect
        assert deleted["delete stale passages (shard)"] == 1  # p1: synced before 2
        assert deleted["delete orphan concepts in batches"] == len(CONCEPT) - 1  # concept 2 went by id
        assert deleted["delete orphan papers in batches"] == 1  # d1 (d2 went by id)
        # Only the epoch marker is left.
        assert server.records("MATCH (n) RETURN labels(n) AS labels") == [{"labels": ["PolymathGraph"]}], dialect
