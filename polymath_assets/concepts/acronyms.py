"""Acronym ↔ expansion pairs found in text (stage ``acronym``).

The Schwartz & Hearst (2003) rule: in ``long form ( SF )`` the short form's characters
appear, in order, in the words just before the bracket, the first one starting the first
word; the long form is the shortest such word span. Works on detokenized text
(``long short-term memory (LSTM)``) and on tokenized text (``long short - term memory ( LSTM )``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from polymath_assets.concepts.normalize import is_acronym_like, normalize_key, split_bracketed, unescape_brackets

_SHORT_IN_BRACKETS = re.compile(r"\(\s*([A-Za-z][A-Za-z0-9\-]{1,9}?)s?\s*\)")
_STOP = frozenset({"the", "a", "an", "of", "and", "or", "for", "in", "on", "with", "to", "by", "as", "we", "is",
                   "are", "this", "that", "using", "use", "based", "called", "namely"})


def long_form_matches(short: str, long: str) -> bool:
    """Schwartz–Hearst: every letter/digit of ``short`` appears in ``long`` from the end
    backwards, and the first one begins a word of ``long``."""
    s_chars = [c.lower() for c in short if c.isalnum()]
    text = long.lower()
    if not s_chars or len(text) <= len(s_chars):
        return False
    l_idx = len(text) - 1
    for s_idx in range(len(s_chars) - 1, -1, -1):
        c = s_chars[s_idx]
        while l_idx >= 0 and (text[l_idx] != c or (s_idx == 0 and l_idx > 0 and text[l_idx - 1].isalnum())):
            l_idx -= 1
        if l_idx < 0:
            return False
        l_idx -= 1
    return True


def find_pairs(text: str) -> list[tuple[str, str]]:
    """(short form, long form) pairs written as ``long form (SF)`` in a passage."""
    pairs = []
    text = unescape_brackets(text)
    for match in _SHORT_IN_BRACKETS.finditer(text):
        short = match.group(1).rstrip("-")
        if not is_acronym_like(short) and not (short.isupper() and len(short) >= 2):
            continue
        before = text[: match.start()].split()
        letters = sum(c.isalnum() for c in short)
        window = before[-min(letters + 5, letters * 2 + 2):]
        best = None
        # Shortest span first: the long form starts as late as possible.
        for start in range(len(window) - 1, -1, -1):
            span = window[start:]
            if span[0].lower() in _STOP or not span[0][:1].isalnum():
                continue
            candidate = " ".join(span)
            if "(" in candidate or ")" in candidate:
                break
            if span[0][0].lower() == short[0].lower() and long_form_matches(short, candidate):
                best = candidate
                break
        if best:
            pairs.append((short, best))
    return pairs


def pairs_in_surface(surface: str) -> tuple[str, str] | None:
    """``convolutional neural network (CNN)`` as one surface → (``CNN``, the long form)."""
    parts = split_bracketed(surface)
    if not parts:
        return None
    long, short = parts
    if is_acronym_like(short) and long_form_matches(short, long):
        return short, long
    return None


def pair_keys(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Pairs as (acronym key, expansion key), dropping pairs whose keys are empty or equal."""
    out = []
    for short, long in pairs:
        a, e = normalize_key(short), normalize_key(long)
        if a and e and a != e:
            out.append((a, e))
    return out
