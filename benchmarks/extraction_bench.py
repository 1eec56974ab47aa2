"""make bench: figures for the extraction path, measured in one run on this machine.

1. Ingestion: N synthetic passages go through the offline emulator as real batch jobs;
   we time our ingestion path (download, parse, align evidence, COPY, upsert, ledger
   update) and row-at-a-time baselines doing the same parsing and alignment followed by
   one INSERT per concept row — committed per row (the pattern of the planning scripts)
   and in one transaction (the generous version) — and print rows/s and the ratios.
2. Request files: peak resident memory of a process streaming the request JSONL for 50k
   and for 500k passages; bounded means the two peaks are about the same.

Nothing here is asserted: these are figures to read, not tests.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import tempfile
import time
from pathlib import Path

import psycopg

from polymath_assets.config import Config
from polymath_assets.corpus.ingest import ingest_file
from polymath_assets.corpus.synthetic import documents_for_passages, generate, write_jsonl
from polymath_assets.extraction import runner
from polymath_assets.extraction.results import ResultContext, ResultStats, read_results
from polymath_assets.gemini.client import BatchClient
from polymath_assets.gemini.emulator import Faults, GeminiEmulator
from polymath_assets.kb import ledger
from polymath_assets.kb.db import migrate_database
from polymath_assets.local import embedded_postgres


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def bench_ingestion(home: Path, passages: int, baseline_rows: int) -> dict:
    config = Config.from_env({"POLYMATH_HOME": str(home), "POLYMATH_BUDGET_USD": "1000"})
    dsn = embedded_postgres.start(home)
    migrate_database(dsn, config)
    corpus = home / "corpus.jsonl"
    write_jsonl(corpus, generate(documents_for_passages(passages), seed=11))
    settings = runner.ExtractionSettings.from_config(config)
    figures = {}
    with psycopg.connect(dsn) as conn, GeminiEmulator(state_dir=home / "emulator", faults=Faults()) as emulator:
        t = time.perf_counter()
        loaded = ingest_file(conn, corpus)
        conn.commit()
        figures["corpus ingest (passages/s)"] = rate(loaded.passages_added, time.perf_counter() - t)
        figures["passages"] = loaded.passages_added

        client = BatchClient("offline-emulator", base_url=emulator.base_url, provider="gemini-emulator")
        for shard in range(settings.shard_count):
            runner.select_shard(conn, settings, shard)
            runner.submit(conn, client, settings, shard)
        for job in ledger.jobs(conn, settings.version, ledger.ACTIVE_JOB_STATES):
            runner.refresh(conn, client, settings, job)
        jobs = ledger.jobs(conn, settings.version, ("succeeded",))

        # The baselines first (they only read the ledger): the same download, parsing and
        # alignment, then one INSERT per concept row — committed per row as the planning
        # scripts did, and, more generously, in one transaction.
        ctx = ResultContext(settings.version, settings.model, settings.request.concept_types, settings.fuzzy_threshold)
        conn.execute("CREATE TABLE bench_baseline (LIKE passage_concepts INCLUDING ALL)")
        conn.commit()
        baseline_jobs = iter(jobs)
        for label, commit_each, limit in (("commit per row", True, baseline_rows // 3),
                                          ("one transaction", False, baseline_rows)):
            t, inserted = time.perf_counter(), 0
            while inserted < limit:
                job = next(baseline_jobs)
                path = settings.work_dir / f"baseline-{job.job_id}.jsonl"
                client.download(job.output_file, path)
                for row in read_results(path, ledger.job_passages(conn, job.job_id), ctx, ResultStats(), []):
                    _insert_one(conn, row)
                    inserted += 1
                    if commit_each:
                        conn.commit()
            conn.commit()
            figures[f"row-at-a-time INSERT, {label} (rows/s)"] = rate(inserted, time.perf_counter() - t)
            figures[f"baseline rows, {label}"] = inserted

        # Our path, before and after evidence stopped storing source_text: half the
        # remaining jobs with the old evidence shape (source_text added back), half as now.
        remaining = list(jobs)
        half = len(remaining) // 2
        with _evidence_with_source_text():
            t, before_rows = time.perf_counter(), 0
            for job in remaining[:half]:
                before_rows += runner.ingest(conn, client, settings, job).concepts_loaded
            figures["ingest before, source_text stored (rows/s)"] = rate(before_rows, time.perf_counter() - t)
        t, rows = time.perf_counter(), 0
        for job in remaining[half:]:
            rows += runner.ingest(conn, client, settings, job).concepts_loaded
        figures["our ingestion path (rows/s)"] = rate(rows, time.perf_counter() - t)
        figures["concept rows loaded"] = rows
        figures["concept rows loaded before"] = before_rows
        figures.update(concept_row_bytes(conn, settings.version))
    for label in ("commit per row", "one transaction"):
        figures[f"ratio, {label}"] = (figures["our ingestion path (rows/s)"]
                                      / figures[f"row-at-a-time INSERT, {label} (rows/s)"])
    embedded_postgres.stop(home)
    return figures


@contextlib.contextmanager
def _evidence_with_source_text():
    """The evidence builder as it was: the passage's first 1200 characters in every row."""
    from polymath_assets.extraction import evidence, results

    original = results.build_evidence

    def with_source_text(passage, *args, **kwargs):
        return {**original(passage, *args, **kwargs), "source_text": passage[:evidence.SOURCE_TEXT_CHARS]}

    results.build_evidence = with_source_text
    try:
        yield
    finally:
        results.build_evidence = original


def concept_row_bytes(conn, version: str) -> dict:
    """Average stored bytes of a concept row as loaded now, and of the same rows with the
    evidence's source_text stored again (written to a scratch table, so compression and
    TOAST apply to both alike). Rows loaded by the 'before' half are measured without
    their stored copy and then with the view's copy, so both figures cover the same rows."""
    conn.execute("DROP TABLE IF EXISTS bench_before_rows")
    conn.execute("""CREATE TABLE bench_before_rows AS
        SELECT c.passage_id, c.concept_name, c.concept_type, c.aliases, c.confidence, c.extractor_model,
               c.extractor_version, c.shard, c.created_at, e.evidence
        FROM passage_concepts c JOIN passage_concepts_evidence e USING (passage_id, extractor_version, concept_name)
        WHERE c.extractor_version = %s""", (version,))
    conn.execute("DROP TABLE IF EXISTS bench_after_rows")
    conn.execute("""CREATE TABLE bench_after_rows AS
        SELECT passage_id, concept_name, concept_type, aliases, confidence, extractor_model,
               extractor_version, shard, created_at, evidence - 'source_text' AS evidence
        FROM passage_concepts WHERE extractor_version = %s""", (version,))
    figures = {}
    for label, table in (("before", "bench_before_rows"), ("after", "bench_after_rows")):
        rows, avg_bytes, table_bytes = conn.execute(
            f"SELECT count(*), avg(pg_column_size(t.*)), pg_table_size('{table}') FROM {table} t").fetchone()
        figures[f"concept row bytes {label}"] = float(avg_bytes)
        figures[f"concept table bytes per row {label}"] = table_bytes / rows if rows else 0.0
    conn.rollback()
    return figures


def _insert_one(conn, row) -> None:
    conn.execute(
        """INSERT INTO bench_baseline (passage_id, concept_name, concept_type, aliases, confidence,
               extractor_model, extractor_version, evidence)
           VALUES (%s, %s, %s, %s::jsonb, %s, %s, %s, %s::jsonb)
           ON CONFLICT (passage_id, extractor_version, concept_name) DO NOTHING""",
        (row.passage_id, row.concept_name, row.concept_type, _json(row.aliases), row.confidence,
         row.extractor_model, row.extractor_version, _json(row.evidence)))


def _json(value) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


_REQUEST_FILE_CHILD = """
import random, resource, sys, time
from pathlib import Path
from polymath_assets.corpus.lexicon import CONCEPT_TYPES
from polymath_assets.corpus.synthetic import passage_text
from polymath_assets.extraction.requests import RequestSettings, write_request_file
n, out = int(sys.argv[1]), Path(sys.argv[2])
rng = random.Random(n)
t = time.perf_counter()
stats = write_request_file(out, ((f"key-{i}", passage_text(rng)) for i in range(n)),
                           RequestSettings("gemini-2.5-flash-lite", 0.0, CONCEPT_TYPES))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, stats.bytes, time.perf_counter() - t)
"""


def bench_request_file(directory: Path, sizes: tuple[int, ...]) -> dict:
    """Peak RSS of a fresh process that streams the request file for n synthetic passages
    (generated on the fly, as rows stream from a server-side cursor in production)."""
    import subprocess
    import sys

    figures = {}
    for n in sizes:
        out = directory / f"requests-{n}.jsonl"
        result = subprocess.run([sys.executable, "-c", _REQUEST_FILE_CHILD, str(n), str(out)],
                                capture_output=True, text=True, check=True)
        peak_kib, size, seconds = result.stdout.split()
        figures[n] = (int(peak_kib) * 1024, int(size), float(seconds))
        out.unlink()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=50_000)
    parser.add_argument("--baseline-rows", type=int, default=30_000)
    parser.add_argument("--request-file-sizes", default="50000,500000")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="polymath-bench-"))
    try:
        print(f"ingestion benchmark: {args.passages:,} synthetic passages through the offline emulator ...", flush=True)
        ingestion = bench_ingestion(home, args.passages, args.baseline_rows)
        print(f"  passages ingested into the corpus  {ingestion['passages']:>12,}  "
              f"({ingestion['corpus ingest (passages/s)']:,.0f} passages/s)")
        print(f"  concept rows through our path      {ingestion['concept rows loaded']:>12,}  "
              f"({ingestion['our ingestion path (rows/s)']:,.0f} rows/s)")
        print(f"  our path, source_text stored (before) {ingestion['concept rows loaded before']:>9,}  "
              f"({ingestion['ingest before, source_text stored (rows/s)']:,.0f} rows/s)")
        for label in ("before", "after"):
            print(f"  concept row {label:6}  {ingestion[f'concept row bytes {label}']:7.0f} B a row, "
                  f"{ingestion[f'concept table bytes per row {label}']:7.0f} B of table a row")
        print(f"BENCH concept_row_bytes_before {ingestion['concept row bytes before']:.0f} B")
        print(f"BENCH concept_row_bytes_after {ingestion['concept row bytes after']:.0f} B")
        print(f"BENCH ingest_rows_per_s_before {ingestion['ingest before, source_text stored (rows/s)']:.0f} rows/s")
        print(f"BENCH ingest_rows_per_s_after {ingestion['our ingestion path (rows/s)']:.0f} rows/s")
        for label in ("commit per row", "one transaction"):
            print(f"  row-at-a-time INSERT, {label:15}  {ingestion[f'baseline rows, {label}']:>8,}  "
                  f"({ingestion[f'row-at-a-time INSERT, {label} (rows/s)']:,.0f} rows/s)  "
                  f"ratio {ingestion[f'ratio, {label}']:.1f}x")
        sizes = tuple(int(s) for s in args.request_file_sizes.split(","))
        print("request-file benchmark: peak memory of a process streaming the request JSONL ...", flush=True)
        files = bench_request_file(home, sizes)
        for n, (peak, size, seconds) in files.items():
            print(f"  {n:>9,} passages: peak RSS {peak / 2**20:7.1f} MiB, file {size / 2**20:9.1f} MiB, "
                  f"{seconds:6.1f} s ({n / seconds:,.0f} requests/s)")
        smallest, largest = min(files), max(files)
        print(f"  peak ratio {largest:,} vs {smallest:,} passages: "
              f"{files[largest][0] / files[smallest][0]:.2f}x for {largest / smallest:.0f}x the passages")
    finally:
        embedded_postgres.stop(home)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
