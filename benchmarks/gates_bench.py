"""make bench: one shard's gate check and one incremental scan cost the same whatever the
size of the other shards.

A synthetic extraction (kb.synthetic_extraction: passages, done requests, ~10 concept rows
per passage with evidence of the real shape) is filled to the first size, measured, then
grown to the second size by adding passages to every shard except the measured one
(shard-007 keeps its rows; the others grow) and measured again. For each size it prints the plan node that reads passage_concepts for one shard's
gate metrics and for the embedding scan, and the median time of: one shard's gate check
(all its metric queries), one incremental scan (the shard's passages lacking an
embedding), the corpus-wide per-shard verdicts in one grouped pass, and verify's
traceability sample. The ratios larger/smaller are printed as BENCH lines: about 1 for
the per-shard figures means their time does not grow with the other shards' rows.

Nothing here is asserted: these are figures to read, not tests.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import psycopg

from polymath_assets.config import Config
from polymath_assets.kb import synthetic_extraction
from polymath_assets.kb.db import migrate_database
from polymath_assets.kb.embeddings import missing_embeddings_query
from polymath_assets.kb.quality import explain_shard_metrics, extraction_metrics, extraction_metrics_by_shard
from polymath_assets.kb.search import traceability
from polymath_assets.local import embedded_postgres

VERSION = "gemini_batch_v1"
SHARDS = 64
SHARD = 7  # the measured shard


def median_ms(fn, repeat: int) -> float:
    fn()  # warm: the figures compare steady states, not whose pages the fill left cached
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def plan_node(plan: str, table: str) -> str:
    """The plan line that reads ``table`` (the scan node, with its bitmap index scan when
    there is one), trimmed of cost estimates."""
    lines = [line.strip().split("  (")[0] for line in plan.splitlines()]
    for i, line in enumerate(lines):
        if f" on {table}" in line and "Scan" in line:
            child = next((x for x in lines[i + 1:] if "Bitmap Index Scan" in x), None)
            return f"{line} {child.lstrip('-> ')}" if "Bitmap Heap Scan" in line and child else line
    return "(no scan of " + table + ")"


# The reconciliation query the shard gate ran before concept rows stored their shard: it
# counted the whole version's rows per passage for every shard (the baseline).
BEFORE_RECONCILIATION = """
    SELECT count(*) FILTER (WHERE r.status = 'done' AND coalesce(n.rows, 0) <> r.concept_count)
    FROM passage_requests r
    LEFT JOIN (SELECT passage_id, count(*) AS rows FROM passage_concepts
               WHERE extractor_version = %(version)s GROUP BY passage_id) n USING (passage_id)
    WHERE r.extractor_version = %(version)s AND r.shard = %(shard)s"""


def measure(conn: psycopg.Connection, shard: int, repeat: int) -> dict:
    scan = missing_embeddings_query(shard, SHARDS, None)
    scan_params = dict(shard=shard, model="bench-model", after=None, limit=2048)
    gate_plans = explain_shard_metrics(conn, VERSION, shard)
    scan_plan = "\n".join(r for (r,) in conn.execute(b"EXPLAIN " + scan.as_bytes(conn), scan_params))
    return {
        "gate plan": plan_node(gate_plans["concepts"], "passage_concepts"),
        "reconciliation plan": plan_node(gate_plans["reconciliation"], "passage_concepts"),
        "scan plan": plan_node(scan_plan, "passages"),
        "gate ms": median_ms(lambda: extraction_metrics(conn, VERSION, shard), repeat),
        "before ms": median_ms(lambda: conn.execute(BEFORE_RECONCILIATION, dict(version=VERSION, shard=shard)).fetchall(),
                               max(1, repeat // 3)),
        "scan ms": median_ms(lambda: conn.execute(scan, scan_params).fetchall(), repeat),
        "all shards one pass ms": median_ms(lambda: extraction_metrics_by_shard(conn, VERSION), max(1, repeat // 3)),
        "traceability ms": median_ms(lambda: traceability(conn, VERSION), repeat),
        "concept rows": conn.execute("SELECT count(*) FROM passage_concepts").fetchone()[0],
        "shard concept rows": conn.execute("SELECT count(*) FROM passage_concepts WHERE shard = %s",
                                           (shard,)).fetchone()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="25000,100000", help="two corpus sizes in passages, smaller first")
    parser.add_argument("--concepts", type=int, default=10, help="concept rows per passage")
    parser.add_argument("--repeat", type=int, default=9, help="timed repetitions (median)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    home = Path(tempfile.mkdtemp(prefix="polymath-gates-bench-"))
    try:
        dsn = embedded_postgres.start(home)
        migrate_database(dsn, Config.from_env({"POLYMATH_HOME": str(home), "POLYMATH_SHARD_COUNT": str(SHARDS)}))
        results = {}
        with psycopg.connect(dsn) as conn:
            for n in sizes:
                t = time.perf_counter()
                synthetic_extraction.fill(conn, passages=n, concepts_per_passage=args.concepts, shard_count=SHARDS,
                                          skip_shard=None if n == sizes[0] else SHARD)
                print(f"corpus of {n:,} passages filled in {time.perf_counter() - t:.0f} s", flush=True)
                results[n] = r = measure(conn, SHARD, args.repeat)
                print(f"  {r['concept rows']:,} concept rows; shard-007 holds {r['shard concept rows']:,}")
                print(f"  gate check, one shard     {r['gate ms']:8.1f} ms   {r['gate plan']}")
                print(f"    reconciliation reads    {'':11} {r['reconciliation plan']}")
                print(f"  baseline: version-wide reconciliation, 1 shard {r['before ms']:8.1f} ms")
                print(f"  incremental scan, 1 shard {r['scan ms']:8.1f} ms   {r['scan plan']}")
                print(f"  all 64 shards, one pass   {r['all shards one pass ms']:8.1f} ms")
                print(f"  verify traceability       {r['traceability ms']:8.1f} ms")
                print(f"BENCH gate_check_shard_ms_{n} {r['gate ms']:.1f} ms")
                print(f"BENCH gate_reconciliation_before_shard_ms_{n} {r['before ms']:.1f} ms")
                print(f"BENCH incremental_scan_shard_ms_{n} {r['scan ms']:.1f} ms")
                print(f"BENCH qc_all_shards_one_pass_ms_{n} {r['all shards one pass ms']:.1f} ms")
                print(f"BENCH verify_traceability_ms_{n} {r['traceability ms']:.1f} ms")
        small, large = sizes[0], sizes[-1]
        print(f"BENCH gate_check_shard_ratio_{large}_vs_{small} "
              f"{results[large]['gate ms'] / results[small]['gate ms']:.2f} x")
        print(f"BENCH gate_reconciliation_before_ratio_{large}_vs_{small} "
              f"{results[large]['before ms'] / results[small]['before ms']:.2f} x")
        print(f"BENCH incremental_scan_shard_ratio_{large}_vs_{small} "
              f"{results[large]['scan ms'] / results[small]['scan ms']:.2f} x")
        print(f"BENCH verify_traceability_ratio_{large}_vs_{small} "
              f"{results[large]['traceability ms'] / results[small]['traceability ms']:.2f} x")
    finally:
        embedded_postgres.stop(home)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
