import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from polymath_assets.corpus.ingest import CorpusRejected, ingest_file
from polymath_assets.corpus.synthetic import generate, write_jsonl

SAMPLE = Path(__file__).parents[1] / "sample_corpus" / "corpus.jsonl"
DOC = "00000000-0000-4000-8000-000000000001"


def counts(conn):
    return conn.execute("SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM passages)").fetchone()


def write_records(path: Path, lines: list) -> Path:
    with open(path, "wb") as handle:
        for line in lines:
            handle.write(line if isinstance(line, bytes) else (json.dumps(line, ensure_ascii=False) + "\n").encode())
    return path


def passage(pid, text="Graph neural network for image segmentation.", doc=DOC, **extra):
    return {"kind": "passage", "passage_id": pid, "doc_id": doc, "section": "results", "passage_text": text, **extra}


def test_sample_corpus_loads_and_a_second_load_adds_nothing(kb):
    first = ingest_file(kb, SAMPLE)
    assert first.documents_added == first.documents_in_file > 0
    assert first.passages_added == first.passages_in_file >= 300
    assert counts(kb) == (first.documents_in_file, first.passages_in_file)

    second = ingest_file(kb, SAMPLE)
    assert (second.documents_in_file, second.passages_in_file) == (first.documents_in_file, first.passages_in_file)
    assert second.documents_added == second.passages_added == 0
    assert counts(kb) == (first.documents_in_file, first.passages_in_file)


def test_parquet_with_the_same_columns_loads_the_same_rows(kb, tmp_path):
    records = list(generate(5, seed=3))
    columns = ["kind", "doc_id", "title", "year", "doi", "passage_id", "section", "passage_text"]
    table = pa.table({c: [r.get(c) for r in records] for c in columns})
    pq.write_table(table, tmp_path / "corpus.parquet")
    result = ingest_file(kb, tmp_path / "corpus.parquet")
    assert result.documents_added == 5
    assert result.passages_added == sum(1 for r in records if r["kind"] == "passage")
    stored = kb.execute("SELECT passage_text FROM passages WHERE passage_id = %s",
                        (records[1]["passage_id"],)).fetchone()[0]
    assert stored == records[1]["passage_text"]


def test_duplicate_passage_with_identical_text_is_harmless(kb, tmp_path):
    pid = "00000000-0000-4000-8000-0000000000a1"
    path = write_records(tmp_path / "c.jsonl", [{"kind": "document", "doc_id": DOC}, passage(pid), passage(pid)])
    result = ingest_file(kb, path)
    assert (result.passages_in_file, result.passages_added) == (1, 1)


BAD_LINES = [
    (passage("00000000-0000-4000-8000-0000000000b1", text="   "), "passage_text is empty"),
    ({"kind": "passage", "passage_id": "00000000-0000-4000-8000-0000000000b2", "doc_id": DOC}, "missing passage_text"),
    (passage("not-a-uuid"), "passage_id 'not-a-uuid' is not a UUID"),
    (passage("00000000-0000-4000-8000-0000000000b3", doc="00000000-0000-4000-8000-00000000dead"), "unknown document"),
    (passage("00000000-0000-4000-8000-0000000000b4", text="nul \x00 byte"), "contains a NUL byte"),
    (b'{"kind": "passage", "passage_text": "caf\xe9"}\n', "not valid UTF-8"),
    (b"{not json\n", "not valid JSON"),
    (passage("00000000-0000-4000-8000-0000000000b5", text="x" * 100_001), "limit 100000"),
    (passage("00000000-0000-4000-8000-0000000000b6", text="\x01\x02\x03\x04abc"), "looks binary"),
    ({"kind": "document", "doc_id": "00000000-0000-4000-8000-000000000002", "year": "2020"}, "year must be an integer"),
    ({"kind": "figure"}, "'kind' must be 'document' or 'passage'"),
]


@pytest.mark.parametrize("bad, reason", BAD_LINES, ids=[r for _, r in BAD_LINES])
def test_a_file_with_one_bad_line_is_rejected_whole_naming_the_line(kb, tmp_path, bad, reason):
    good = [{"kind": "document", "doc_id": DOC}, passage("00000000-0000-4000-8000-0000000000a1")]
    path = write_records(tmp_path / "c.jsonl", good + [bad] + [passage("00000000-0000-4000-8000-0000000000a2")])
    with pytest.raises(CorpusRejected) as rejected:
        ingest_file(kb, path)
    errors = rejected.value.result.errors
    assert [e.line for e in errors] == [3]
    assert reason in errors[0].reason
    assert "line 3:" in str(rejected.value)
    assert counts(kb) == (0, 0)


def test_same_id_with_different_text_is_rejected_in_the_file_and_against_the_database(kb, tmp_path):
    pid = "00000000-0000-4000-8000-0000000000a1"
    clash = write_records(tmp_path / "a.jsonl", [{"kind": "document", "doc_id": DOC}, passage(pid, "one"), passage(pid, "two")])
    with pytest.raises(CorpusRejected, match="line 3: passage_id .* also on line 2 with different text"):
        ingest_file(kb, clash)

    ingest_file(kb, write_records(tmp_path / "b.jsonl", [{"kind": "document", "doc_id": DOC}, passage(pid, "one")]))
    before = kb.execute("SELECT passage_text FROM passages").fetchall()
    changed = write_records(tmp_path / "c.jsonl", [passage(pid, "rewritten")])
    with pytest.raises(CorpusRejected, match="line 1: passage_id .* already stored with different text"):
        ingest_file(kb, changed)
    assert kb.execute("SELECT passage_text FROM passages").fetchall() == before


def test_every_bad_line_is_reported_not_only_the_first(kb, tmp_path):
    lines = [{"kind": "document", "doc_id": DOC}] + [passage(f"bad-{i}") for i in range(60)]
    with pytest.raises(CorpusRejected) as rejected:
        ingest_file(kb, write_records(tmp_path / "c.jsonl", lines))
    assert len(rejected.value.result.errors) == 60
    assert "... and 10 more" in str(rejected.value)


def test_generator_is_deterministic(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", generate(3, seed=11))
    write_jsonl(tmp_path / "b.jsonl", generate(3, seed=11))
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert (tmp_path / "a.jsonl").read_bytes() != b"".join(
        (json.dumps(r, ensure_ascii=False) + "\n").encode() for r in generate(3, seed=12))
