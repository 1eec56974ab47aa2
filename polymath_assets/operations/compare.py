"""Pilot A/B: the same random sample through two prompt versions, side by side, so the
user chooses a format before paying for the backfill.

Each prompt version runs under its own extractor version (``<version>@<prompt
version>``), outside the merge preference, so the comparison never reaches the graph
and never mixes with the backfill's rows. Both select exactly the same passages (one
sample drawn from the passages lacking concepts of the configured version) and go
through the whole extraction path: request keys, batch job, ledger, spend ledger,
parsing, evidence alignment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import psycopg

from polymath_assets.concepts.normalize import normalize_key
from polymath_assets.extraction import runner
from polymath_assets.extraction.estimate import PROJECTED_PASSAGES
from polymath_assets.extraction.requests import gold_answer_tokens
from polymath_assets.extraction.runner import ExtractionSettings
from polymath_assets.gemini.client import BatchClient
from polymath_assets.kb import comparison as sql
from polymath_assets.kb import control, ledger
from polymath_assets.operations.extraction import drive

EXAMPLES = 5


@dataclass(frozen=True)
class Column:
    """One prompt version's side of the comparison."""
    prompt_version: str
    extractor_version: str
    passages: int               # of the sample, done
    input_tokens_per_passage: float
    output_tokens_per_passage: float
    usd_per_passage: float
    projected_usd: float        # for PROJECTED_PASSAGES passages
    concepts_per_passage: float
    type_distribution: dict[str, int]
    located_share: float
    alignment: dict[str, int]
    only_here: int              # concepts (passage, normalized name) the other version did not find
    examples: list[tuple[str, str, str]] = field(default_factory=list)  # (passage id, name, type) found only here


@dataclass
class PilotComparison:
    selection: str
    sample: int
    columns: list[Column]
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        a, b = self.columns
        rows = [("", a.prompt_version, b.prompt_version),
                ("passages done", f"{a.passages}", f"{b.passages}"),
                ("input tokens / passage", f"{a.input_tokens_per_passage:.0f}", f"{b.input_tokens_per_passage:.0f}"),
                ("output tokens / passage", f"{a.output_tokens_per_passage:.0f}", f"{b.output_tokens_per_passage:.0f}"),
                ("USD / passage", f"{a.usd_per_passage:.7f}", f"{b.usd_per_passage:.7f}"),
                (f"projected USD, {PROJECTED_PASSAGES:,} passages", f"{a.projected_usd:.2f}", f"{b.projected_usd:.2f}"),
                ("concepts / passage", f"{a.concepts_per_passage:.2f}", f"{b.concepts_per_passage:.2f}"),
                ("located evidence", f"{a.located_share:.2%}", f"{b.located_share:.2%}"),
                ("alignment", _counts(a.alignment), _counts(b.alignment)),
                ("types", _counts(a.type_distribution), _counts(b.type_distribution)),
                ("found only by this version", f"{a.only_here}", f"{b.only_here}")]
        width = max(len(r[0]) for r in rows)
        out = [f"pilot comparison on {self.sample} passages ({self.selection}):"]
        out += [f"  {label:<{width}}  {left:<28}  {right}" for label, left, right in rows]
        for column in self.columns:
            for pid, name, ctype in column.examples:
                out.append(f"  only {column.prompt_version}: {name!r} [{ctype}] in passage {pid}")
        return out + self.notes


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def parse_versions(text: str) -> tuple[str, str]:
    """``"concepts-v1,concepts-v2"`` -> two different known prompt versions, or ValueError."""
    from polymath_assets.extraction.requests import PROMPT_VERSIONS

    versions = tuple(v.strip() for v in text.split(","))
    if len(versions) != 2 or len(set(versions)) != 2 or not set(versions) <= set(PROMPT_VERSIONS):
        raise ValueError(f"compare takes two different prompt versions of {', '.join(PROMPT_VERSIONS)}, "
                         f"e.g. {','.join(PROMPT_VERSIONS)}; got {text!r}")
    return versions


def compare_versions(conn: psycopg.Connection, client: BatchClient, s: ExtractionSettings,
                     prompt_versions: tuple[str, str], size: int, *, poll_interval_s: float = 5.0,
                     timeout_s: float | None = None, progress: Callable[[str], None] = lambda _: None,
                     ) -> PilotComparison:
    """Extract one random sample with both prompt versions and compare the results."""
    selection, sample, sides = select_sample(conn, s, prompt_versions, size)
    for side in sides:
        progress(f"{side.request.prompt_version}: {len(sample)} passages as {side.version}")
        summary = drive(conn, client, runner.calibrate_tokens(conn, client, side), pilot=True,
                        poll_interval_s=poll_interval_s, timeout_s=timeout_s, progress=progress)
        runner.finish_run(conn, side, "pilot", {"jobs_submitted": summary.jobs_submitted})
    found = [sql.concepts(conn, side.version, selection) for side in sides]
    keys = [{(pid, normalize_key(name)) for pid, name, _ in rows} for rows in found]
    columns = [_column(conn, side, rows, keys[i] - keys[1 - i], selection)
               for i, (side, rows) in enumerate(zip(sides, found))]
    conn.commit()
    return PilotComparison(selection, len(sample), columns)


def select_sample(conn: psycopg.Connection, s: ExtractionSettings, prompt_versions: tuple[str, str],
                  size: int) -> tuple[str, list[str], list[ExtractionSettings]]:
    """A new comparison's selection tag and sample, registered as each side's pilot, in one
    transaction under the version's selection lock (a pilot's): two comparisons started at
    once take two tags and two disjoint samples. Returns (tag, passage ids, each side's
    settings)."""
    control.lock_selection(conn, s.version)
    selection = sql.next_selection(conn, s.version)
    sample = sql.sample(conn, version=s.version, size=size, seed=selection)
    sides = [_settings(s, prompt_version) for prompt_version in prompt_versions]
    for side in sides:
        ledger.register_pilot(conn, version=side.version, size=len(sample), shard_count=s.shard_count,
                              fingerprint=side.request.fingerprint(), selection=selection, seed=selection,
                              among=sample)
        ledger.save_checkpoint(conn, side.version, "pilot", {"size": size, "selection": selection,
                                                              "compare": list(prompt_versions)})
    conn.commit()
    return selection, sample, sides


def _settings(s: ExtractionSettings, prompt_version: str) -> ExtractionSettings:
    request = replace(s.request, prompt_version=prompt_version)
    version = f"{s.version}@{prompt_version}"
    return replace(s, version=version, request=request, expected_output_tokens=gold_answer_tokens(prompt_version),
                   work_dir=s.work_dir.parent / version)


def _column(conn, side: ExtractionSettings, rows, only: set, selection: str) -> Column:
    numbers = sql.summary(conn, side.version, selection)
    requests, prompt_tokens, output_tokens, cached = sql.usage(conn, side.version, selection)
    per = requests or 1
    usd = side.prices.cost(prompt_tokens, output_tokens, cached) / per
    examples = sorted({(pid, name, ctype) for pid, name, ctype in rows if (pid, normalize_key(name)) in only})
    return Column(
        prompt_version=side.request.prompt_version, extractor_version=side.version, passages=numbers["done"],
        input_tokens_per_passage=prompt_tokens / per, output_tokens_per_passage=output_tokens / per,
        usd_per_passage=usd, projected_usd=usd * PROJECTED_PASSAGES,
        concepts_per_passage=numbers["concepts"] / numbers["done"] if numbers["done"] else 0.0,
        type_distribution=numbers["types"], located_share=numbers["located"] / numbers["concepts"]
        if numbers["concepts"] else 0.0, alignment=numbers["alignment"], only_here=len(only),
        examples=examples[:EXAMPLES])
