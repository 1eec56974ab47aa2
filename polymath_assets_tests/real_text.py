"""Real scientific text for tests: the 500 SciERC abstracts kept in the repository
(``polymath_assets_tests/data/scierc_abstracts.jsonl``; source and licence in that
folder's README), so a clone with nothing beside it runs every test. A missing file
fails the test that asks for it (never a skip).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

_DATA = Path(__file__).resolve().parent / "data"


def scierc_path() -> Path:
    path = _DATA / "scierc_abstracts.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"real-text test data missing: {path} (it belongs to the repository)")
    return path


@cache
def _load() -> tuple[dict, ...]:
    with scierc_path().open(encoding="utf-8") as handle:
        return tuple(json.loads(line) for line in handle if line.strip())


def load_scierc() -> list[dict]:
    """The 500 abstracts: ``split``, ``doc_id``, ``passage_text``, ``mentions`` [{text, type, start, end}]."""
    return [dict(row) for row in _load()]
