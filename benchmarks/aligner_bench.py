"""Evidence alignment on real abstracts: right and false per quote class, and quotes/s,
for the current aligner and the frozen baseline (``baseline_aligner.py``) in one run,
one process, one core.

Cases: ``polymath_assets_tests.alignment_cases.build_cases`` (the SciERC abstracts, quotes
written the way a model writes them; see that module for what "intended" means). A
quote is *right* when it is aligned to an intended span (or, for a quote that must not
align, stays unaligned) and *false* when it is aligned anywhere else.

- ``aligner_quotes_per_s``: the whole mix, passage after passage as ``build_evidence``
  sees it (the passage's token index is built once and reused for its quotes).
- ``aligner_cold_quotes_per_s``: the same with the index rebuilt for every quote.
- The baseline is slow (its fuzzy search is quadratic per passage), so it runs on a
  deterministic sample (every ``--baseline-every``-th case of each class); the speedup
  compares both aligners on that same sample.

Nothing is asserted here: these are figures to read. Run from the repository root:
``python benchmarks/aligner_bench.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not an installed copy

import baseline_aligner  # noqa: E402  (benchmarks/, beside this file)

from polymath_assets.extraction import evidence  # noqa: E402
from polymath_assets_tests.alignment_cases import CLASSES, build_cases  # noqa: E402

THRESHOLD = evidence.DEFAULT_FUZZY_THRESHOLD


def run(cases, align) -> tuple[float, dict[str, Counter]]:
    counts: dict[str, Counter] = defaultdict(Counter)
    started = time.perf_counter()
    results = [align(c) for c in cases]
    seconds = time.perf_counter() - started
    for case, (start, end) in zip(cases, results):
        tally = counts[case.cls]
        tally["n"] += 1
        if start is None:
            tally["right"] += not case.intended
        elif (start, end) in case.intended:
            tally["right"] += 1
        else:
            tally["false"] += 1
    return len(cases) / seconds, counts


def new(case):
    a = evidence.align_quote(case.passage, case.quote, THRESHOLD, case.surface)
    return a.start, a.end


def new_cold(case):
    evidence._index.cache_clear()
    return new(case)


def old(case):
    a = baseline_aligner.align_quote(case.passage, case.quote, THRESHOLD)
    return a.start, a.end


def report(prefix: str, counts: dict[str, Counter]) -> None:
    for cls in CLASSES:
        tally = counts[cls]
        n = tally["n"] or 1
        print(f"BENCH {prefix}_{cls}_right {100 * tally['right'] / n:.1f} %  (n={tally['n']})")
        print(f"BENCH {prefix}_{cls}_false {100 * tally['false'] / n:.1f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-abstract", type=int, default=1, help="cases per class and abstract (default 1)")
    parser.add_argument("--baseline-every", type=int, default=8, help="baseline sample: every n-th case per class")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    cases = build_cases(seed=args.seed, per_abstract=args.per_abstract)
    by_class: dict[str, list] = defaultdict(list)
    for case in cases:
        by_class[case.cls].append(case)
    sample = [c for cls in CLASSES for c in by_class[cls][::args.baseline_every]]
    print(f"{len(cases)} quotes over {len({c.doc_id for c in cases})} abstracts; baseline sample {len(sample)}")

    evidence._index.cache_clear()
    rate, counts = run(cases, new)
    cold_rate, _ = run(cases, new_cold)
    # the quotes that reach the fuzzy step (no exact or normalized match)
    fuzzy_classes = ("clause_changed", "invented", "paraphrase", "wrong_number")
    fuzzy_cases = [c for c in cases if c.cls in fuzzy_classes]
    evidence._index.cache_clear()
    fuzzy_rate, _ = run(fuzzy_cases, new_cold)
    evidence._index.cache_clear()
    sample_rate, _ = run(sample, new_cold)
    base_rate, base_counts = run(sample, old)
    base_fuzzy_rate, _ = run([c for c in sample if c.cls in fuzzy_classes], old)

    print(f"BENCH aligner_quotes_per_s {rate:.0f} quotes/s")
    print(f"BENCH aligner_cold_quotes_per_s {cold_rate:.0f} quotes/s")
    print(f"BENCH aligner_fuzzy_path_quotes_per_s {fuzzy_rate:.0f} quotes/s")
    print(f"BENCH aligner_baseline_quotes_per_s {base_rate:.1f} quotes/s")
    print(f"BENCH aligner_baseline_fuzzy_path_quotes_per_s {base_fuzzy_rate:.1f} quotes/s")
    print(f"BENCH aligner_speedup {sample_rate / base_rate:.0f} x  (same sample, index rebuilt per quote)")
    report("aligner", counts)
    report("aligner_baseline", base_counts)


if __name__ == "__main__":
    main()
