"""Real scientific text for tests: the SciERC abstracts kept in the shared data folder.

CI clones the repository with ``shared/`` beside it, so the file is found relative to the
repository root. A missing file fails the test that asks for it (never a skip).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[1]


def scierc_path() -> Path:
    path = _REPO_ROOT.parent / "shared" / "data" / "scierc_abstracts.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"real-text test data missing: {path} (shared/ must sit beside the repository)")
    return path


@cache
def _load() -> tuple[dict, ...]:
    with scierc_path().open(encoding="utf-8") as handle:
        return tuple(json.loads(line) for line in handle if line.strip())


def load_scierc() -> list[dict]:
    """The 500 abstracts: ``split``, ``doc_id``, ``passage_text``, ``mentions`` [{text, type, start, end}]."""
    return [dict(row) for row in _load()]
