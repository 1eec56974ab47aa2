"""A deterministic OFFLINE stand-in for the Gemini model: not a model, a lexicon matcher.

The offline Gemini emulator (polymath_assets.gemini.emulator) answers every batch request
with this extractor so the whole pipeline can run without network or API keys. Its output
has the shape a real model returns for extraction.prompt.response_schema(): canonical
names from the shared lexicon, verbatim quotes sliced from the passage, and confidences
derived from a hash, so the same passage always gives the same answer.
"""

from __future__ import annotations

import hashlib
import json
import re

from polymath_assets.corpus.lexicon import all_terms
from polymath_assets.extraction.prompt import passage_from_prompt

MAX_QUOTES = 2
LEXICON_CONFIDENCE = (0.72, 0.98)
ACRONYM_CONFIDENCE = (0.55, 0.70)

_CANONICAL = {term.lower(): (term, kind) for term, kind in all_terms()}
# all_terms() is longest first, so at any position the regex alternation prefers the
# longest term; finditer then yields non-overlapping matches left to right.
_TERMS = re.compile(
    r"(?<!\w)(?:" + "|".join(re.escape(term) for term, _ in all_terms()) + r")(?!\w)",
    re.IGNORECASE,
)
# "graph neural network (GNN)": the acronym is an alias, not a concept of its own.
_ALIAS_AFTER = re.compile(r"\s*\(([A-Z][A-Za-z0-9-]{1,9})\)")
_ACRONYM = re.compile(r"(?<![\w-])[A-Z]{2,6}(?![\w-])|(?<=\()[A-Z][A-Za-z0-9-]{1,9}(?=\))")
_NEXT_WORD = re.compile(r"\s+[\w-]+")
_NOT_ACRONYMS = {"AND", "OR", "THE", "OF", "IN", "FOR", "TO", "WE", "ON", "AT", "BY", "IS"}


def _unit(*parts: str) -> float:
    """A number in [0, 1) fixed by the parts: the source of all 'randomness' here."""
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _confidence(name: str, passage: str, bounds: tuple[float, float]) -> float:
    low, high = bounds
    return round(low + (high - low) * _unit("confidence", name, passage), 3)


def _quote(passage: str, match: re.Match, name: str) -> str:
    """The matched text, sometimes with the next word too, as a model's quotes often are."""
    start, end = match.span()
    if _unit("quote", name, passage, str(start)) < 0.3:
        following = _NEXT_WORD.match(passage, end)
        if following:
            end = following.end()
    # Like a model, collapse line breaks inside a quote and now and then change its case:
    # such quotes are found by the aligner's normalized pass, not verbatim.
    quote = " ".join(passage[start:end].split())
    if _unit("case", name, passage, str(start)) < 0.08 and quote != quote.lower():
        quote = quote.lower()
    return quote


def _lexicon_concepts(passage: str) -> tuple[dict[str, dict], list[tuple[int, int]]]:
    """Concepts keyed by canonical name, and the spans that lexicon terms (and their
    parenthesised aliases) cover, which acronym detection must skip."""
    concepts: dict[str, dict] = {}
    covered: list[tuple[int, int]] = []
    for match in _TERMS.finditer(passage):
        name, kind = _CANONICAL[match.group(0).lower()]
        concept = concepts.setdefault(name, {
            "name": name, "type": kind, "aliases": [],
            "confidence": _confidence(name, passage, LEXICON_CONFIDENCE), "quotes": [],
        })
        if len(concept["quotes"]) < MAX_QUOTES:
            concept["quotes"].append(_quote(passage, match, name))
        end = match.end()
        alias = _ALIAS_AFTER.match(passage, end)
        if alias:
            if alias.group(1) not in concept["aliases"]:
                concept["aliases"].append(alias.group(1))
            end = alias.end()
        covered.append((match.start(), end))
    return concepts, covered


def _acronym_concepts(passage: str, covered: list[tuple[int, int]], known: set[str]) -> dict[str, dict]:
    concepts: dict[str, dict] = {}
    for match in _ACRONYM.finditer(passage):
        token = match.group(0)
        inside_term = any(start <= match.start() < end for start, end in covered)
        if inside_term or token in _NOT_ACRONYMS or token.lower() in known:
            continue
        concept = concepts.setdefault(token, {
            "name": token, "type": "entity", "aliases": [],
            "confidence": _confidence(token, passage, ACRONYM_CONFIDENCE), "quotes": [],
        })
        if len(concept["quotes"]) < MAX_QUOTES:
            concept["quotes"].append(token)
    return concepts


MAX_CONCEPTS = 12


def extract(passage_text: str) -> dict:
    """Concepts in the passage, valid against extraction.prompt.response_schema().

    Lexicon terms (case-insensitive, longest first) come first in passage order, then
    acronyms the lexicon does not know, typed "entity" with a lower confidence.
    """
    concepts, covered = _lexicon_concepts(passage_text)
    # An acronym already given as an alias is that concept, not a new entity.
    aliases = {alias.lower() for concept in concepts.values() for alias in concept["aliases"]}
    known = aliases | set(_CANONICAL)
    acronyms = _acronym_concepts(passage_text, covered, known)
    found = list(concepts.values()) + list(acronyms.values())
    # The prompt asks for 4 to 14 concepts; like a model following it, keep the most
    # confident ones (in passage order) when a long passage names more.
    if len(found) > MAX_CONCEPTS:
        keep = {id(c) for c in sorted(found, key=lambda c: -c["confidence"])[:MAX_CONCEPTS]}
        found = [c for c in found if id(c) in keep]
    return {"concepts": found}


def _get(mapping: dict, camel: str, snake: str):
    return mapping.get(camel, mapping.get(snake))


def _texts(content: dict | None) -> list[str]:
    parts = (content or {}).get("parts") or []
    return [part["text"] for part in parts if isinstance(part, dict) and part.get("text")]


def answer(request: dict) -> tuple[str, dict]:
    """(response text, usageMetadata) for one GenerateContentRequest dict.

    The passage is the one user_prompt() embedded; a prompt without the markers is
    treated as the passage itself. Token counts are the usual ~4 characters per token.
    """
    user_texts = [text for content in request.get("contents") or [] for text in _texts(content)]
    system_texts = _texts(_get(request, "systemInstruction", "system_instruction"))
    prompt = "\n".join(user_texts)
    passage = next(filter(None, map(passage_from_prompt, user_texts)), None)
    text = json.dumps(extract(prompt if passage is None else passage), ensure_ascii=False)
    prompt_tokens = max(1, len("\n".join(system_texts + user_texts)) // 4)
    output_tokens = max(1, len(text) // 4)
    usage = {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": output_tokens,
        "totalTokenCount": prompt_tokens + output_tokens,
    }
    return text, usage
