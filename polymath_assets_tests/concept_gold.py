"""The two development gold sets of canonical concepts (labelling rules in ``data/README.md``):

* the SciERC NER set: every distinct (surface, type) of the abstracts' mentions, grouped
  where they name the same thing (``data/scierc_concept_gold.jsonl``; a surface not
  listed there is a singleton). The resolver's embedding threshold and rules were tuned
  on this set.
* the definitions set: surfaces the abstracts write around their own acronym definitions
  and clusters labelled by hand (``data/scierc_definitions_gold.jsonl``, every surface
  listed, one type), never used to tune a threshold; its rule for a name with a generic
  head noun copies the resolver's head rule."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from polymath_assets_tests.concept_helpers import load_documents
from polymath_assets_tests.real_text import load_scierc

GOLD_PATH = Path(__file__).resolve().parent / "data" / "scierc_concept_gold.jsonl"
DEFINITIONS_PATH = Path(__file__).resolve().parent / "data" / "scierc_definitions_gold.jsonl"


def scierc_surfaces() -> Counter:
    """(surface, type) → how many mentions write it."""
    return Counter((m["text"], m["type"]) for row in load_scierc() for m in row["mentions"])


def scierc_texts() -> list[str]:
    return [row["passage_text"] for row in load_scierc()]


def gold_clusters() -> dict[tuple[str, str], str]:
    """(surface, type) → gold cluster label, for every surface of the abstracts."""
    labels = {key: f"single:{key[1]}:{key[0]}" for key in scierc_surfaces()}
    with GOLD_PATH.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            key = (row["surface"], row["type"])
            if key not in labels:
                raise ValueError(f"{GOLD_PATH.name}: {key} is not a mention of the abstracts")
            labels[key] = row["group"]
    return labels


def _definitions_rows() -> list[dict]:
    with DEFINITIONS_PATH.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def definitions_clusters() -> dict[tuple[str, str], str]:
    """(surface, type) → gold cluster label, for every surface of the definitions set."""
    return {(row["surface"], row["type"]): row["group"] for row in _definitions_rows()}


def definition_pairs() -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """(acronym, expansion) as (surface, type) for every definition the abstracts write
    whose two sides the gold set puts in one concept."""
    rows = _definitions_rows()
    group = {row["surface"]: row["group"] for row in rows}
    return [((row["surface"], row["type"]), (expansion, row["type"]))
            for row in rows for expansion in row.get("defined_as", ()) if group[expansion] == row["group"]]


def occurrences(surfaces, texts: list[str]) -> dict[str, list[int]]:
    """surface → indexes of the texts that write it token-exact (how a surface is put in the
    passages of a knowledge base built from the abstracts)."""
    found = {}
    for surface in surfaces:
        pattern = re.compile(r"(?<!\S)" + re.escape(surface) + r"(?!\S)")
        found[surface] = [i for i, text in enumerate(texts) if pattern.search(text)]
    return found


def load_definitions_kb(conn) -> int:
    """A knowledge base built from the abstracts: one document and one passage per abstract,
    and every surface of the definitions set as a concept row of each passage that writes
    it (what an extractor would have written). Returns the concept rows loaded; does not commit."""
    texts = scierc_texts()
    gold = definitions_clusters()
    written: list[list[tuple[str, str]]] = [[] for _ in texts]
    for surface, found in occurrences(sorted({s for s, _ in gold}), texts).items():
        for type_ in sorted(t for s, t in gold if s == surface):
            for i in found:
                written[i].append((surface, type_))
    load_documents(conn, [(f"SciERC abstract {i}", text, rows) for i, (text, rows) in enumerate(zip(texts, written))])
    return sum(map(len, written))


def load_scierc_kb(conn) -> int:
    """A knowledge base of the abstracts with their annotated mentions as concept rows, for
    the NER set: one row per surface of a passage (as an extractor writes them), typed as
    its first mention. Returns the concept rows loaded; does not commit."""
    documents = []
    for i, row in enumerate(load_scierc()):
        first: dict[str, str] = {}
        for m in row["mentions"]:
            first.setdefault(m["text"], m["type"])
        documents.append((f"SciERC abstract {i}", row["passage_text"], list(first.items())))
    load_documents(conn, documents)
    return sum(len(concepts) for _, _, concepts in documents)


def calibration_lines(which: str) -> list[str]:
    """A gold set as ``polymath concepts calibrate --gold`` reads it: every surface on its
    own line, the surfaces of one concept with one group (``ner`` or ``definitions``)."""
    gold = gold_clusters() if which == "ner" else definitions_clusters()
    return [json.dumps({"surface": s, "type": t, "group": g}, ensure_ascii=False) for (s, t), g in sorted(gold.items())]


if __name__ == "__main__":
    import sys

    if sys.argv[1:] not in (["ner"], ["definitions"]):
        sys.exit("usage: python -m polymath_assets_tests.concept_gold ner|definitions > gold.jsonl")
    print("\n".join(calibration_lines(sys.argv[1])))
