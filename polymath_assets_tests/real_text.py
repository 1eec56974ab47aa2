"""Real scientific text for tests: the 500 SciERC abstracts kept in the repository
(``polymath_assets_tests/data/scierc_abstracts.jsonl``; source and licence in that
folder's README), so a clone with nothing beside it runs every test. A missing file
fails the test that asks for it (never a skip).
"""

from __future__ import annotations

import json
import uuid
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


def passage_id_of(row: dict) -> str:
    """The stable passage id of an abstract (derived from its SciERC id)."""
    return str(uuid.uuid5(uuid.UUID(row["doc_id"]), "abstract"))


def write_scierc_corpus(path: Path, count: int | None = None) -> Path:
    """The first ``count`` abstracts (all by default) in the ingest format: one document
    (titled by its first words) and one passage each (apostrophes, backquotes and all). The
    passage id is derived from the SciERC id, so the file is stable."""
    rows = load_scierc()[:count]
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            title = " ".join(row["passage_text"].split()[:8])
            out.write(json.dumps({"kind": "document", "doc_id": row["doc_id"], "title": title}) + "\n")
            out.write(json.dumps({"kind": "passage", "doc_id": row["doc_id"], "section": "abstract",
                                  "passage_id": passage_id_of(row),
                                  "passage_text": row["passage_text"]}) + "\n")
    return path
