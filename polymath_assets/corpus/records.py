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
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MAX_PASSAGE_CHARS = 100_000  # a passage longer than this is not a passage: split it upstream
BINARY_CONTROL_SHARE = 0.01  # more control characters than this means the text is binary junk
_ALLOWED_CONTROLS = {"\n", "\r", "\t"}
YEAR_RANGE = (1, 9999)  # the documents.year column is an int; anything outside is a typo
# What a file that is not a corpus file usually starts with, for a message that says so.
_MAGIC = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"%PDF": "a PDF document",
          b"PK\x03\x04": "a ZIP archive (or .docx/.xlsx)", b"\x1f\x8b": "gzip-compressed data",
          b"PAR1": "a Parquet file", b"GIF8": "a GIF image", b"\x7fELF": "an executable"}


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
    line: int | None  # None: the file as a whole is bad
    reason: str

    def __str__(self) -> str:
        return self.reason if self.line is None else f"line {self.line}: {self.reason}"


class CorpusFileError(ValueError):
    """The file cannot be read as a corpus file at all (wrong kind, truncated, unreadable)."""

    def __init__(self, reason: str, line: int | None = None):
        super().__init__(reason)
        self.record = BadRecord(line, reason)


Record = Document | Passage | BadRecord


def read_raw(path: Path) -> Iterator[tuple[int, dict | BadRecord]]:
    """Yield (line number, parsed dict or BadRecord) for every record in the file, streaming.

    Raises CorpusFileError when the file as a whole cannot be read (perhaps after some
    records were yielded: a truncated gzip stream is only found at its end)."""
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            yield from _read_parquet(path)
        elif name.endswith((".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")):
            yield from _read_jsonl(path)
        else:
            raise CorpusFileError("unknown corpus format (expected .jsonl, .jsonl.gz or .parquet)")
    except OSError as err:  # unreadable, a directory, permissions
        raise CorpusFileError(f"cannot read the file ({err.strerror or err})") from None


def _file_kind(head: bytes) -> str | None:
    """What the first bytes say the file is, when that is not text."""
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    if b"\x00" in head:
        return "binary data (NUL bytes)"
    return None


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict | BadRecord]]:
    compressed = path.name.lower().endswith(".gz")
    with open(path, "rb") as raw_file:
        head = raw_file.read(512)
    kind = _file_kind(head)
    if compressed and not head.startswith(b"\x1f\x8b") and head:
        raise CorpusFileError(f"named .gz but not gzip-compressed ({kind or 'plain text?'}); rename or compress it")
    if not compressed and kind is not None:
        hint = "; name it .jsonl.gz" if kind == "gzip-compressed data" else ""
        raise CorpusFileError(f"not a JSON Lines text file: it holds {kind}{hint}")
    opener = gzip.open if compressed else open
    number = 0
    with opener(path, "rb") as handle:
        lines = enumerate(handle, start=1)
        while True:
            try:
                number, raw = next(lines)
            except StopIteration:
                break
            except (EOFError, gzip.BadGzipFile, zlib.error) as err:
                raise CorpusFileError(
                    f"the gzip stream breaks off after line {number} ({err}); the file is truncated or corrupt",
                    line=number + 1) from None
            if compressed and number == 1 and _file_kind(raw[:512]):
                raise CorpusFileError(f"not JSON Lines inside the gzip stream: it holds {_file_kind(raw[:512])}")
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
    import pyarrow as pa
    import pyarrow.parquet as pq

    number = 0
    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=10_000)
        for batch in batches:
            for row in batch.to_pylist():
                number += 1
                yield number, {k: v for k, v in row.items() if v is not None}
    except (pa.ArrowException, ValueError, OSError) as err:
        where = "" if number == 0 else f" after row {number}"
        with open(path, "rb") as raw_file:
            kind = _file_kind(raw_file.read(512))
        found = f" (it holds {kind})" if kind and kind != "a Parquet file" else ""
        raise CorpusFileError(f"not a readable Parquet file{where}{found}: {str(err)[:200]}",
                              line=number + 1 if number else None) from None


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
                year=_optional_year(raw),
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


def _optional_year(raw: dict) -> int | None:
    year = _optional_int(raw, "year")
    if year is not None and not YEAR_RANGE[0] <= year <= YEAR_RANGE[1]:
        raise _Invalid(f"year {year} is not a year ({YEAR_RANGE[0]}–{YEAR_RANGE[1]})")
    return year


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
