"""Parsing and validating one line of a batch output file. Pure functions.

A line is joined to its request by ``key``, never by position (providers shuffle).
Every line ends as exactly one outcome:

- ``ok``             the answer parsed and validated (possibly with some concepts rejected)
- ``request_error``  the provider answered the request with an error
- ``truncated``      finish reason other than STOP (MAX_TOKENS, SAFETY, ...): text is partial
- ``empty``          no candidate or no text
- ``parse_error``    the text is not the JSON document the schema asks for

Everything but ``ok`` is a failed request that the ledger retries.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field

MAX_NAME_CHARS = 60  # longer "concept names" are usually sentences: garbage, flagged in QC
# Longer than this a "name" is a paragraph, not a concept: rejected outright (configurable:
# POLYMATH_MAX_CONCEPT_NAME_CHARS, passed in by the caller).
DEFAULT_NAME_LIMIT = 200
OK, REQUEST_ERROR, TRUNCATED, EMPTY, PARSE_ERROR = "ok", "request_error", "truncated", "empty", "parse_error"


@dataclass(frozen=True)
class Concept:
    name: str
    type: str
    aliases: tuple[str, ...]
    confidence: float | None  # None: the answer format carries none (extraction.compact)
    quotes: tuple[str, ...]
    span: str | None = None       # compact format: the concept as written in the passage
    expansion: str | None = None  # compact format: an acronym's expansion the passage spells out
    hint: str | None = None       # compact format: a short quote saying which occurrence is meant


@dataclass
class ParsedLine:
    key: str | None
    outcome: str
    concepts: list[Concept] = field(default_factory=list)
    rejected: Counter = field(default_factory=Counter)  # reason -> count of concepts dropped
    long_names: int = 0
    prompt_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0  # of prompt_tokens, served from a context cache (billed at the cached price)
    error: str | None = None


def parse_output_line(line: str, concept_types: tuple[str, ...],
                      max_name_chars: int = DEFAULT_NAME_LIMIT, compact: bool = False) -> ParsedLine:
    """One output line; ``compact``: the answer is in the compact format (extraction.compact)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        return ParsedLine(None, PARSE_ERROR, error=f"output line is not JSON: {err.msg}")
    if not isinstance(record, dict):
        return ParsedLine(None, PARSE_ERROR, error="output line is not a JSON object")
    key = record.get("key")
    key = str(key) if key is not None else None
    if "error" in record:
        err = record["error"] or {}
        return ParsedLine(key, REQUEST_ERROR, error=f"provider error {err.get('code')}: {err.get('message', '')}"[:500])
    response = record.get("response") or {}
    prompt_tokens, output_tokens, cached_tokens = _usage(response)
    base = dict(key=key, prompt_tokens=prompt_tokens, output_tokens=output_tokens, cached_tokens=cached_tokens)
    candidates = response.get("candidates") or []
    if not candidates:
        return ParsedLine(**base, outcome=EMPTY, error="response has no candidates")
    candidate = candidates[0]
    finish = candidate.get("finishReason", "STOP")
    text = "".join(
        part.get("text", "") for part in (candidate.get("content") or {}).get("parts") or []
        if not part.get("thought")
    )
    if finish != "STOP":
        return ParsedLine(**base, outcome=TRUNCATED, error=f"finish reason {finish}")
    if not text.strip():
        return ParsedLine(**base, outcome=EMPTY, error="response text is empty")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        return ParsedLine(**base, outcome=PARSE_ERROR, error=f"answer is not valid JSON: {err.msg} at {err.pos}")
    if compact:
        return _compact(document, base, concept_types, max_name_chars)
    if not isinstance(document, dict) or not isinstance(document.get("concepts"), list):
        return ParsedLine(**base, outcome=PARSE_ERROR, error="answer lacks a 'concepts' array")
    parsed = ParsedLine(**base, outcome=OK)
    by_name: dict[str, Concept] = {}
    for item in document["concepts"]:
        concept, reason = validate_concept(item, concept_types, max_name_chars)
        if concept is None:
            parsed.rejected[reason] += 1
            continue
        kept = by_name.get(concept.name)
        if kept is None or concept.confidence > kept.confidence:
            by_name[concept.name] = concept
    parsed.concepts = list(by_name.values())
    parsed.long_names = sum(1 for c in parsed.concepts if len(c.name) > MAX_NAME_CHARS)
    return parsed


def _compact(document, base: dict, concept_types: tuple[str, ...], max_name_chars: int) -> ParsedLine:
    from polymath_assets.extraction import compact

    if not isinstance(document, dict) or "concepts" in document:
        return ParsedLine(**base, outcome=PARSE_ERROR, error="answer is not an object of concept-type lists")
    concepts, rejected = compact.parse_document(document, concept_types, max_name_chars)
    parsed = ParsedLine(**base, outcome=OK, concepts=concepts, rejected=rejected)
    parsed.long_names = sum(1 for c in concepts if len(c.name) > MAX_NAME_CHARS)
    return parsed


def clean_name(value, max_name_chars: int) -> tuple[str | None, str]:
    """A concept name with whitespace runs collapsed, or None and why it was dropped."""
    if not isinstance(value, str) or not " ".join(value.split()):
        return None, "empty_name"
    name = " ".join(value.split())
    if len(name) > max_name_chars:
        return None, "name_too_long"
    return name, ""


def validate_concept(item, concept_types: tuple[str, ...],
                     max_name_chars: int = DEFAULT_NAME_LIMIT) -> tuple[Concept | None, str]:
    """A Concept, or None and the reason it was dropped: not_an_object, empty_name,
    name_too_long, unknown_type, bad_confidence, wrong_types, no_quote."""
    if not isinstance(item, dict):
        return None, "not_an_object"
    name, reason = clean_name(item.get("name"), max_name_chars)
    if name is None:
        return None, reason
    ctype = item.get("type")
    if not isinstance(ctype, str) or ctype.strip().lower() not in concept_types:
        return None, "unknown_type"
    confidence = item.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not math.isfinite(confidence):
        return None, "bad_confidence"
    aliases = item.get("aliases") or []
    quotes = item.get("quotes") or []
    if not isinstance(aliases, list) or not isinstance(quotes, list):
        return None, "wrong_types"
    quotes = tuple(q for q in quotes if isinstance(q, str) and q.strip())
    if not quotes:
        # a concept without a quote has no evidence to verify: an invalid row, not an
        # "unaligned" one (it would otherwise count as evidence present in the gates)
        return None, "no_quote"
    return Concept(
        name=name,
        type=ctype.strip().lower(),
        aliases=tuple(a.strip() for a in aliases if isinstance(a, str) and a.strip()),
        confidence=min(1.0, max(0.0, float(confidence))),
        quotes=quotes,
    ), ""


def _usage(response: dict) -> tuple[int, int, int]:
    usage = response.get("usageMetadata") or {}
    prompt = int(usage.get("promptTokenCount") or 0)
    # thinking tokens are billed as output
    output = int(usage.get("candidatesTokenCount") or 0) + int(usage.get("thoughtsTokenCount") or 0)
    # promptTokenCount includes the cached part
    cached = min(prompt, int(usage.get("cachedContentTokenCount") or 0))
    return prompt, output, cached
