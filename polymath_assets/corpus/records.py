"""Reading and validating corpus files: pure functions, no database.

A corpus file holds records of two kinds, in any order:

    {"kind": "document", "doc_id": <uuid>, "title": str?, "year": int?, "doi": str?}
    {"kind": "passage", "passage_id": <uuid>, "doc_id": <uuid>, "section": str?, "passage_text": str}

as JSON Lines (``.jsonl``, optionally ``.gz``) or Parquet (``.parquet``, the same
column names, nulls where a kind has no such field). Each record is checked on its own
here; checks that need the whole file or the database live in ``corpus.ingest``.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MAX_PASSAGE_CHARS = 100_000  # a passage longer than this is not a passage: split it upstream
BINARY_CONTROL_SHARE = 0.01  # more control characters than this means the text is binary junk
_ALLOWED_CONTROLS = {"\n", "\r", "\t"}


@dataclass(frozen=True)
class Document:
    line: int
    doc_id: uuid.UUID
    title: str | None
    year: int | None
    doi: str | None


@dataclass(frozen=True)
class Passage:
    line: int
    passage_id: uuid.UUID
    doc_id: uuid.UUID
    section: str | None
    passage_text: str


@dataclass(frozen=True)
class BadRecord:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


Record = Document | Passage | BadRecord


def read_raw(path: Path) -> Iterator[tuple[int, dict | BadRecord]]:
    """Yield (line number, parsed dict or BadRecord) for every record in the file, streaming."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        yield from _read_parquet(path)
    elif name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        yield from _read_jsonl(path)
    else:
        raise ValueError(f"{path}: unknown corpus format (expected .jsonl, .jsonl.gz or .parquet)")


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict | BadRecord]]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                yield number, BadRecord(number, f"not valid UTF-8 (byte {err.start})")
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as err:
                yield number, BadRecord(number, f"not valid JSON ({err.msg} at column {err.colno})")
                continue
            if not isinstance(value, dict):
                yield number, BadRecord(number, "a record must be a JSON object")
                continue
            yield number, value


def _read_parquet(path: Path) -> Iterator[tuple[int, dict | BadRecord]]:
    import pyarrow.parquet as pq

    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=10_000):
        for row in batch.to_pylist():
            number += 1
            yield number, {k: v for k, v in row.items() if v is not None}


def validate(line: int, raw: dict | BadRecord) -> Record:
    """Turn one raw record into a Document or Passage, or a BadRecord saying why not."""
    if isinstance(raw, BadRecord):
        return raw
    try:
        kind = raw.get("kind")
        if kind == "document":
            return Document(
                line=line,
                doc_id=_uuid(raw, "doc_id"),
                title=_optional_text(raw, "title"),
                year=_optional_int(raw, "year"),
                doi=_optional_text(raw, "doi"),
            )
        if kind == "passage":
            return Passage(
                line=line,
                passage_id=_uuid(raw, "passage_id"),
                doc_id=_uuid(raw, "doc_id"),
                section=_optional_text(raw, "section"),
                passage_text=_passage_text(raw),
            )
        return BadRecord(line, f"'kind' must be 'document' or 'passage', got {kind!r}")
    except _Invalid as err:
        return BadRecord(line, str(err))


class _Invalid(ValueError):
    pass


def _uuid(raw: dict, key: str) -> uuid.UUID:
    value = raw.get(key)
    if value is None:
        raise _Invalid(f"missing {key}")
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise _Invalid(f"{key} {str(value)[:60]!r} is not a UUID") from None


def _clean_text(key: str, value: str) -> str:
    if "\x00" in value:
        raise _Invalid(f"{key} contains a NUL byte")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _Invalid(f"{key} contains an unpaired surrogate (not encodable as UTF-8)") from None
    return value


def _optional_text(raw: dict, key: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Invalid(f"{key} must be a string, got {type(value).__name__}")
    return _clean_text(key, value)


def _optional_int(raw: dict, key: str) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(f"{key} must be an integer, got {value!r}")
    return value


def _passage_text(raw: dict) -> str:
    value = raw.get("passage_text")
    if value is None:
        raise _Invalid("missing passage_text")
    if not isinstance(value, str):
        raise _Invalid(f"passage_text must be a string, got {type(value).__name__}")
    if not value.strip():
        raise _Invalid("passage_text is empty")
    value = _clean_text("passage_text", value)
    if len(value) > MAX_PASSAGE_CHARS:
        raise _Invalid(f"passage_text has {len(value)} characters (limit {MAX_PASSAGE_CHARS}); split it")
    controls = sum(1 for ch in value if ord(ch) < 32 and ch not in _ALLOWED_CONTROLS)
    if controls > BINARY_CONTROL_SHARE * len(value):
        raise _Invalid(f"passage_text looks binary ({controls} control characters)")
    return value
