"""pilot --compare: the same random sample through two prompt versions, side by side,
offline on the emulator (which answers in whichever format a request asks for). Each
comparison takes its own sample: a version that merely looks alike takes nothing from it,
and two comparisons started at once (real processes) take two disjoint samples."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import psycopg

from polymath_assets.corpus.ingest import ingest_file
from polymath_assets.kb import comparison, control
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


def test_a_comparisons_sample_is_its_own_and_a_look_alike_versions_ledger_is_not_one(kb, tmp_path):
    ingest_file(kb, scierc_corpus(tmp_path / "scierc.jsonl", 30))
    passages = [pid for (pid,) in kb.execute("SELECT passage_id::text FROM passages ORDER BY 1")]
    # "_" is no wildcard: gemini-batch-v1's comparisons are not gemini_batch_v1's
    kb.execute("""INSERT INTO passage_requests (extractor_version, passage_id, shard, request_key, selection)
                  SELECT 'gemini-batch-v1@concepts-v1', p, 0, 'k' || p, 'compare-1'
                  FROM unnest(%s::uuid[]) p""", (passages[:20],))
    assert comparison.next_selection(kb, "gemini_batch_v1") == "compare-1"
    assert len(comparison.sample(kb, version="gemini_batch_v1", size=30, seed="compare-1")) == 30
    kb.execute("""INSERT INTO passage_requests (extractor_version, passage_id, shard, request_key, selection)
                  SELECT 'gemini_batch_v1@concepts-v2', p, 0, 'k' || p, 'compare-1'
                  FROM unnest(%s::uuid[]) p""", (passages[:20],))
    assert comparison.next_selection(kb, "gemini_batch_v1") == "compare-2"
    assert set(comparison.sample(kb, version="gemini_batch_v1", size=30, seed="compare-2")) == set(passages[20:])


SELECT_IN_A_PROCESS = """
import json, sys
from pathlib import Path

import psycopg

from polymath_assets.operations.compare import select_sample
from polymath_assets_tests.extraction_helpers import settings

with psycopg.connect(sys.argv[1]) as conn:
    selection, sample, _ = select_sample(conn, settings(Path(sys.argv[2])), ("concepts-v1", "concepts-v2"), 10)
print(json.dumps([selection, sample]))
"""


def test_two_comparisons_started_at_once_take_two_disjoint_samples(kb, kb_dsn, tmp_path):
    """Both wait for the version's selection lock (held here, as a pilot selecting would),
    then select one after the other."""
    ingest_file(kb, scierc_corpus(tmp_path / "scierc.jsonl", 30))
    kb.commit()
    with psycopg.connect(kb_dsn) as holder:
        control.lock_selection(holder, "gemini_batch_v1")
        both = [subprocess.Popen([sys.executable, "-c", SELECT_IN_A_PROCESS, kb_dsn, str(tmp_path / "home")],
                                 env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
        time.sleep(3)
        assert [p.poll() for p in both] == [None, None]  # waiting for the lock
        holder.commit()
        outputs = [p.communicate(timeout=120) for p in both]
    assert [p.returncode for p in both] == [0, 0], outputs
    (first, a), (second, b) = sorted(json.loads(out) for out, _ in outputs)
    assert (first, second) == ("compare-1", "compare-2") and len(a) == len(b) == 10 and not set(a) & set(b)
    for side in ("concepts-v1", "concepts-v2"):  # each side's ledger holds both samples, each under its tag
        rows = dict(kb.execute("""SELECT selection, array_agg(passage_id::text) FROM passage_requests
                                  WHERE extractor_version = %s GROUP BY 1""", (f"gemini_batch_v1@{side}",)).fetchall())
        assert {k: set(v) for k, v in rows.items()} == {"compare-1": set(a), "compare-2": set(b)}
