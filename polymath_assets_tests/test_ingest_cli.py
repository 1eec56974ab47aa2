"""`polymath ingest` through the real command on bad files: an operator error naming the file
or line, exit code 1, and the tables exactly as before. And any text loads back verbatim."""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polymath_assets.cli import main
from polymath_assets.corpus.ingest import ingest_file
from polymath_assets.corpus.records import BINARY_CONTROL_SHARE

DOC = "00000000-0000-4000-8000-000000000001"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


def records(count: int, doc: str = DOC, title: str = "A paper", first: int = 1) -> list[dict]:
    return [{"kind": "document", "doc_id": doc, "title": title, "year": 2020}] + [
        {"kind": "passage", "passage_id": str(uuid.UUID(int=i)), "doc_id": doc, "passage_text": f"Passage {i}."}
        for i in range(first, first + count)]


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def snapshot(conn) -> tuple:
    """Row counts and a digest of every column of every row of both tables."""
    return conn.execute(
        """SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM passages),
                  (SELECT md5(coalesce(string_agg(d::text, '|' ORDER BY d.doc_id), '')) FROM documents d),
                  (SELECT md5(coalesce(string_agg(p::text, '|' ORDER BY p.passage_id), '')) FROM passages p)"""
    ).fetchone()


def ingest(kb_dsn: str, *paths: Path):
    # catch_exceptions=False: a traceback would fail the test instead of passing as exit 1
    return CliRunner().invoke(main, ["ingest", *map(str, paths)], env={"POSTGRES_DSN": kb_dsn},
                              catch_exceptions=False)


@pytest.fixture
def loaded(kb, kb_dsn, tmp_path):
    """The database already holding one document with three passages."""
    first = tmp_path / "first.jsonl"
    first.write_bytes(jsonl(records(3)))
    assert ingest(kb_dsn, first).exit_code == 0
    kb.commit()
    return snapshot(kb)


def truncated_gzip(path: Path) -> Path:
    whole = gzip.compress(jsonl(records(3000, doc=str(uuid.uuid4()), first=1000)))
    path.write_bytes(whole[: len(whole) // 2])
    return path


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def parquet_with_bad_year(path: Path) -> Path:
    rows = records(1, doc=str(uuid.uuid4()))
    rows[0]["year"] = 3_000_000_000
    columns = ["kind", "doc_id", "title", "year", "passage_id", "passage_text"]
    pq.write_table(pa.table({c: [r.get(c) for r in rows] for c in columns}), path)
    return path


def truncated_parquet(path: Path) -> Path:
    rows = records(50, doc=str(uuid.uuid4()), first=1000)
    columns = ["kind", "doc_id", "title", "passage_id", "passage_text"]
    pq.write_table(pa.table({c: [r.get(c) for r in rows] for c in columns}), path)
    path.write_bytes(path.read_bytes()[:-100])
    return path


BAD_FILES = {
    "document reused with another title": (
        lambda p: write(p / "c.jsonl", jsonl(records(1, title="A paper, revised"))),
        "line 1: doc_id 00000000-0000-4000-8000-000000000001 is already stored with a different title"),
    "truncated gzip": (lambda p: truncated_gzip(p / "c.jsonl.gz"), "the gzip stream breaks off after line"),
    "year out of range": (
        lambda p: write(p / "c.jsonl", jsonl([{**records(0, doc=str(uuid.uuid4()))[0], "year": 3_000_000_000}])),
        "line 1: year 3000000000 is not a year"),
    "year out of range in Parquet": (lambda p: parquet_with_bad_year(p / "c.parquet"), "line 1: year 3000000000"),
    "not Parquet": (lambda p: write(p / "c.parquet", jsonl(records(2))), "not a readable Parquet file"),
    "truncated Parquet": (lambda p: truncated_parquet(p / "c.parquet"), "not a readable Parquet file"),
    "PNG named .jsonl": (lambda p: write(p / "c.jsonl", PNG), "not a JSON Lines text file: it holds a PNG image"),
    "binary named .jsonl": (lambda p: write(p / "c.jsonl", bytes(range(256)) * 4), "binary data"),
    "gzip named .jsonl": (lambda p: write(p / "c.jsonl", gzip.compress(jsonl(records(2)))), "name it .jsonl.gz"),
    "plain text named .jsonl.gz": (lambda p: write(p / "c.jsonl.gz", jsonl(records(2))), "not gzip-compressed"),
    "unknown extension": (lambda p: write(p / "c.csv", b"kind,doc_id\n"), "unknown corpus format"),
}


@pytest.mark.parametrize("make, message", BAD_FILES.values(), ids=list(BAD_FILES))
def test_a_bad_file_is_an_operator_error_and_changes_nothing(kb, kb_dsn, tmp_path, loaded, make, message):
    path = make(tmp_path)
    result = ingest(kb_dsn, path)
    assert result.exit_code == 1, result.output
    assert f"{path}: rejected" in result.output and "nothing was loaded" in result.output
    assert message in result.output
    assert "Traceback" not in result.output and "Aborted!" not in result.output
    assert snapshot(kb) == loaded


def test_a_bad_file_does_not_stop_the_good_files_beside_it(kb, kb_dsn, tmp_path, loaded):
    good = write(tmp_path / "good.jsonl", jsonl(records(2, doc=str(uuid.uuid4()), first=100)))
    result = ingest(kb_dsn, truncated_gzip(tmp_path / "bad.jsonl.gz"), good)
    assert result.exit_code == 1
    assert "bad.jsonl.gz: rejected" in result.output
    assert "good.jsonl: documents 1 in file, 1 added" in result.output
    assert snapshot(kb)[:2] == (loaded[0] + 1, loaded[1] + 2)


def test_the_same_document_again_is_accepted(kb, kb_dsn, tmp_path, loaded):
    again = write(tmp_path / "again.jsonl", jsonl(records(3)))
    result = ingest(kb_dsn, again)
    assert result.exit_code == 0, result.output
    assert "documents 1 in file, 0 added" in result.output
    assert snapshot(kb) == loaded


# JSON can carry every character; PostgreSQL text cannot hold NUL and UTF-8 cannot hold a
# lone surrogate, and the validator rightly rejects both (tested in test_ingest).
ANY_TEXT = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")


def _not_binary(text: str) -> bool:
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t")
    return bool(text.strip()) and controls <= BINARY_CONTROL_SHARE * len(text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=st.text(ANY_TEXT, max_size=300),
       text=st.one_of(st.text(ANY_TEXT, min_size=1, max_size=500),
                      st.text(st.sampled_from('"\\\'\u2028\u0085\ufeff é𝛼\U0001F600\r\n\t'), min_size=1, max_size=50)
                      .map(lambda s: "x" * 5000 + s)).filter(_not_binary))
def test_any_text_loads_back_verbatim(kb, tmp_path_factory, title, text):
    doc, pid = str(uuid.uuid4()), str(uuid.uuid4())
    path = tmp_path_factory.mktemp("prop") / "c.jsonl"
    path.write_bytes(jsonl([{"kind": "document", "doc_id": doc, "title": title},
                            {"kind": "passage", "passage_id": pid, "doc_id": doc, "passage_text": text}]))
    ingest_file(kb, path)
    stored = kb.execute("SELECT d.title, p.passage_text FROM passages p JOIN documents d USING (doc_id) "
                        "WHERE p.passage_id = %s", (pid,)).fetchone()
    assert stored == (title, text)
