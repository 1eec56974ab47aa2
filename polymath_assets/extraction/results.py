"""From a batch output file to concept rows and per-passage outcomes.

The output file is streamed line by line; each line is joined to its passages by key.
Every passage of the job gets exactly one outcome: done (its concepts, aligned), or
failed with the reason (provider error, truncated, empty, unparseable, or no line at
all for its key). Counters for the QC gates are collected on the way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from polymath_assets.extraction.evidence import _RANK, build_evidence, build_span_evidence, locate_span
from polymath_assets.extraction.parse import DEFAULT_NAME_LIMIT, OK, Concept, clean_name, parse_output_line
from polymath_assets.kb.concepts import ConceptRow, Outcome


@dataclass
class ResultStats:
    lines: int = 0
    outcomes: Counter = field(default_factory=Counter)   # parse outcome -> lines
    missing_keys: int = 0          # requests with no output line at all
    unknown_keys: int = 0          # output lines whose key is not in this job
    concepts: int = 0
    rejected: Counter = field(default_factory=Counter)   # reason -> concepts dropped
    long_names: int = 0
    alignment: Counter = field(default_factory=Counter)  # status -> concepts
    prompt_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0

    def as_dict(self) -> dict:
        return {
            "lines": self.lines, "outcomes": dict(self.outcomes), "missing_keys": self.missing_keys,
            "unknown_keys": self.unknown_keys, "concepts": self.concepts, "rejected": dict(self.rejected),
            "long_names": self.long_names, "alignment": dict(self.alignment),
            "prompt_tokens": self.prompt_tokens, "output_tokens": self.output_tokens,
            "cached_tokens": self.cached_tokens,
        }


@dataclass(frozen=True)
class ResultContext:
    version: str
    model: str
    concept_types: tuple[str, ...]
    fuzzy_threshold: float
    max_name_chars: int = DEFAULT_NAME_LIMIT
    compact: bool = False  # answers in the compact format (extraction.compact)


def concept_rows(passage_id: str, text: str, concepts: list[Concept], ctx: ResultContext) -> list[ConceptRow]:
    """The rows of one passage's parsed concepts, evidence aligned, one per name.
    quality.notes ("extracted by <model>") is served by the evidence view from
    extractor_model, not repeated in every row."""
    if not ctx.compact:
        return [ConceptRow(passage_id, c.name, c.type, list(c.aliases), c.confidence, ctx.model, ctx.version,
                           build_evidence(text, c.name, list(c.quotes), c.confidence, None, ctx.fuzzy_threshold))
                for c in concepts]
    rows: dict[str, ConceptRow] = {}
    for concept in concepts:
        row = _span_row(passage_id, text, concept, ctx)
        kept = rows.get(row.concept_name)
        if kept is None or _RANK[row.evidence["quality"]["alignment"]] < _RANK[kept.evidence["quality"]["alignment"]]:
            rows[row.concept_name] = row  # two spans naming one concept (CNN, and its expansion): the better located
    return list(rows.values())


def _span_row(passage_id: str, text: str, concept: Concept, ctx: ResultContext) -> ConceptRow:
    """A compact-format concept: its span located (the occurrence its hint names, else the
    first). An expansion the passage spells out becomes the name, the acronym its alias;
    one not found in the passage is dropped, never stored."""
    span = locate_span(text, concept.span or concept.name, concept.hint, ctx.fuzzy_threshold)
    locations, name, aliases = [span], concept.name, []
    expansion_name, _ = clean_name(concept.expansion, ctx.max_name_chars)
    if expansion_name and expansion_name != concept.name:
        expansion = locate_span(text, concept.expansion, None, ctx.fuzzy_threshold)
        if expansion.alignment.start is not None:
            locations, name, aliases = [span, expansion], expansion_name, [concept.name]
    evidence = build_span_evidence(text, name, locations)
    return ConceptRow(passage_id, name, concept.type, aliases, evidence["quality"]["confidence"], ctx.model,
                      ctx.version, evidence)


def read_results(path: Path, passages_by_key: dict[str, list[tuple[str, str]]], ctx: ResultContext,
                 stats: ResultStats, outcomes: list[Outcome]) -> Iterator[ConceptRow]:
    """Yield concept rows for the loader while filling ``outcomes`` and ``stats``.

    ``outcomes`` is complete once the generator is exhausted: passages whose key never
    appeared in the file are failed then."""
    seen: set[str] = set()
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.strip():
                continue
            stats.lines += 1
            parsed = parse_output_line(line, ctx.concept_types, ctx.max_name_chars, ctx.compact)
            targets = passages_by_key.get(parsed.key or "")
            if targets is None or parsed.key in seen:
                stats.unknown_keys += 1
                continue
            seen.add(parsed.key)
            stats.outcomes[parsed.outcome] += 1
            stats.prompt_tokens += parsed.prompt_tokens
            stats.output_tokens += parsed.output_tokens
            stats.cached_tokens += parsed.cached_tokens
            if parsed.outcome != OK:
                outcomes.extend(Outcome(pid, False, 0, f"{parsed.outcome}: {parsed.error}") for pid, _ in targets)
                continue
            stats.rejected.update(parsed.rejected)
            stats.long_names += parsed.long_names * len(targets)
            for pid, text in targets:
                rows = concept_rows(pid, text, parsed.concepts, ctx)
                for row in rows:
                    stats.alignment[row.evidence["quality"]["alignment"]] += 1
                    stats.concepts += 1
                    yield row
                outcomes.append(Outcome(pid, True, len(rows), None))
    for key, targets in passages_by_key.items():
        if key not in seen:
            stats.missing_keys += len(targets)
            outcomes.extend(Outcome(pid, False, 0, "no result line for this request") for pid, _ in targets)
