"""The SciERC concept gold set: every distinct (surface, type) of the abstracts' mentions,
grouped where they name the same thing (``data/scierc_concept_gold.jsonl``, labelling
rules in ``data/README.md``); a surface not listed there is a singleton."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from polymath_assets_tests.real_text import load_scierc

GOLD_PATH = Path(__file__).resolve().parent / "data" / "scierc_concept_gold.jsonl"


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
