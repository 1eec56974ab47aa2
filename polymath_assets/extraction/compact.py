"""The compact answer format (prompt version ``concepts-v2``): spans as written, grouped by type.

Every output token is paid once per passage, ~550k times, so the answer holds only what we
keep. The model lists each concept as the span written in the passage, under its type:

    {"method": ["CRF", "beam search"], "problem": ["named entity recognition"],
     "x": [{"s": "CRF", "x": "conditional random field"}],
     "q": [{"s": "parsing", "q": "parsing of noisy text"}]}

- a type's name is written once per answer, not once per concept (the type is the key);
- ``x`` only for an acronym listed above that the passage itself spells out;
- ``q`` only where the span alone would not locate the concept (it occurs more than once
  and the model means a later one): a short quote around the occurrence meant.

No canonical name (the canonical-concepts stage resolves names), no confidence (the QC
gates do not read it; the row's confidence is how well its span was located, see
``evidence.locate_span``), no quotes by default (we locate the span ourselves). Evidence
``support`` is the located span and ``context`` its sentence.
"""

from __future__ import annotations

from collections import Counter

from polymath_assets.extraction.parse import Concept, clean_name

PROMPT_VERSION = "concepts-v2"
EXPANSIONS, HINTS = "x", "q"

SYSTEM_INSTRUCTION = (
    "List the scientific concepts one passage of a research paper mentions, each once, under its type: "
    "copy each as written in the passage (a name or term, not a sentence). "
    "x: for an acronym you listed that the passage spells out, that expansion as written. "
    "q: only when a listed text occurs more than once and you mean a later occurrence, a short quote "
    "around it. Aim for 4 to 14 concepts."
)


def user_prompt(passage_text: str) -> str:
    return f"<passage>\n{passage_text}\n</passage>"


def response_schema(concept_types: tuple[str, ...], max_concepts: int) -> dict:
    """One array of strings per concept type; ``x`` and ``q`` are small side lists.
    Every list is bounded (``maxItems``), nothing is required: a type the passage does not
    mention is left out."""
    def pairs(second: str) -> dict:
        return {"type": "ARRAY", "maxItems": max_concepts,
                "items": {"type": "OBJECT", "properties": {"s": {"type": "STRING"}, second: {"type": "STRING"}},
                          "required": ["s", second], "propertyOrdering": ["s", second]}}

    properties = {t: {"type": "ARRAY", "items": {"type": "STRING"}, "maxItems": max_concepts} for t in concept_types}
    properties[EXPANSIONS] = pairs("x")
    properties[HINTS] = pairs("q")
    return {"type": "OBJECT", "properties": properties,
            "propertyOrdering": [*concept_types, EXPANSIONS, HINTS]}


def default_max_output_tokens(concept_types: tuple[str, ...], max_concepts: int) -> int:
    """The largest answer the schema's limits allow at ≤ 16 tokens a span: every type's key,
    ``max_concepts`` spans (each with its quotes and comma), and as many expansion and hint
    entries (the span again, ≤ 40 tokens of text, keys and braces) — about 30 times the
    answer measured on real text, which bounds what a runaway answer can bill."""
    return 16 + 6 * (len(concept_types) + 2) + max_concepts * (18 + 2 * (16 + 40 + 8))


def parse_document(document: dict, concept_types: tuple[str, ...],
                   max_name_chars: int) -> tuple[list[Concept], Counter]:
    """Concepts of a compact answer, and the reasons for the items dropped. A span listed
    twice (under two types) is kept under the first."""
    rejected: Counter = Counter()
    expansions = _pairs(document.get(EXPANSIONS), "x", rejected)
    hints = _pairs(document.get(HINTS), "q", rejected)
    concepts: dict[str, Concept] = {}
    for key, spans in document.items():
        if key in (EXPANSIONS, HINTS):
            continue
        ctype = key.strip().lower()
        if ctype not in concept_types or not isinstance(spans, list):
            rejected["unknown_type"] += len(spans) if isinstance(spans, list) else 1
            continue
        for span in spans:
            name, reason = clean_name(span, max_name_chars)
            if name is None:
                rejected[reason] += 1
                continue
            if name in concepts:
                rejected["duplicate"] += 1
                continue
            concepts[name] = Concept(name=name, type=ctype, aliases=(), confidence=None, quotes=(), span=span,
                                     expansion=expansions.get(span.strip()), hint=hints.get(span.strip()))
    return list(concepts.values()), rejected


def _pairs(items, second: str, rejected: Counter) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("s"), str) and isinstance(item.get(second), str) \
                and item["s"].strip() and item[second].strip():
            found.setdefault(item["s"].strip(), item[second])
        else:
            rejected[f"bad_{second}"] += 1
    return found


def render(concepts: list[tuple[str, str, str | None, str | None]]) -> dict:
    """The answer document for (span, type, expansion, hint) tuples, in the order given:
    what the offline emulator and the answer-size benchmark write."""
    document: dict[str, list] = {}
    for span, ctype, _, _ in concepts:
        document.setdefault(ctype, []).append(span)
    expansions = [{"s": span, "x": x} for span, _, x, _ in concepts if x]
    hints = [{"s": span, "q": q} for span, _, _, q in concepts if q]
    if expansions:
        document[EXPANSIONS] = expansions
    if hints:
        document[HINTS] = hints
    return document
