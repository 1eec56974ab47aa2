"""pilot --compare: the same random sample through two prompt versions, side by side,
offline on the emulator (which answers in whichever format a request asks for)."""

from __future__ import annotations

from polymath_assets.corpus.ingest import ingest_file
from polymath_assets.local import emulator_service
from polymath_assets.operations.compare import compare_versions
from polymath_assets_tests.extraction_helpers import run_cli, settings
from polymath_assets_tests.real_text import write_scierc_corpus as scierc_corpus

SAMPLE = 24


def test_compare_extracts_one_sample_with_both_versions_and_reports_both_columns(kb, client, tmp_path):
    ingest_file(kb, scierc_corpus(tmp_path / "scierc.jsonl", 60))
    kb.commit()
    s = settings(tmp_path / "home")
    result = compare_versions(kb, client, s, ("concepts-v1", "concepts-v2"), SAMPLE, poll_interval_s=0.05)
    v1, v2 = result.columns
    assert (v1.prompt_version, v2.prompt_version) == ("concepts-v1", "concepts-v2")
    assert v1.extractor_version == "gemini_batch_v1@concepts-v1" and v1.passages == v2.passages == SAMPLE
    # one sample: both versions' ledgers hold exactly the same passages
    ledgers = [set(kb.execute("SELECT passage_id FROM passage_requests WHERE extractor_version = %s",
                              (c.extractor_version,)).fetchall()) for c in result.columns]
    assert ledgers[0] == ledgers[1] and len(ledgers[0]) == SAMPLE
    # the compact format pays far less output for the same concepts
    assert v2.output_tokens_per_passage < v1.output_tokens_per_passage / 2 and v2.projected_usd < v1.projected_usd
    assert v1.concepts_per_passage > 4 and v2.concepts_per_passage >= v1.concepts_per_passage - 0.5
    assert v1.located_share > 0.99 and v2.located_share > 0.99 and sum(v2.type_distribution.values()) > 0
    assert set(v2.alignment) <= {"exact", "normalized", "fuzzy", "unaligned"}
    for column in result.columns:
        assert len(column.examples) == min(column.only_here, 5)
    # the comparison never touches the configured version (nothing for the graph)
    assert kb.execute("SELECT count(*) FROM passage_concepts WHERE extractor_version = 'gemini_batch_v1'"
                      ).fetchone()[0] == 0


def test_pilot_compare_command_prints_both_columns_offline(kb, kb_dsn, tmp_path):
    ingest_file(kb, scierc_corpus(tmp_path / "scierc.jsonl", 30))
    kb.commit()
    try:
        out = run_cli(tmp_path, kb_dsn, "pilot", "--offline", "--size", "12", "--poll-interval", "0.1",
                      "--compare", "concepts-v1,concepts-v2")
        assert out.returncode == 0, out.stderr
        table = out.stdout[out.stdout.index("pilot comparison on 12 passages"):]
        for label in ("output tokens / passage", "projected USD, 550,000 passages", "concepts / passage",
                      "located evidence", "alignment", "types", "found only by this version"):
            row = next(line for line in table.splitlines() if line.strip().startswith(label))
            assert len(row.split()) >= 3, row
        assert "concepts-v1" in table.splitlines()[1] and "concepts-v2" in table.splitlines()[1]
        bad = run_cli(tmp_path, kb_dsn, "pilot", "--offline", "--compare", "concepts-v1")
        assert bad.returncode == 2 and "two different prompt versions" in bad.stderr
    finally:
        emulator_service.stop(tmp_path)
