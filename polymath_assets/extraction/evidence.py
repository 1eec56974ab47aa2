"""Evidence alignment: we locate the model's quotes in the passage ourselves.

Offsets from a model are never trusted. Each quote is searched for:

1. ``exact``      — verbatim; ``passage[start:end] == quote``.
2. ``normalized`` — after folding case, unicode compatibility forms, dash variants and
   whitespace runs, and joining words hyphenated across a line break; the offsets are
   those of the original span, so ``passage[start:end]`` is what the model quoted,
   as printed in the passage.
3. ``fuzzy``      — the best window of the normalized passage whose similarity to the
   normalized quote reaches a threshold.
4. ``unaligned``  — kept, with no offsets: we never invent them.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher

EXACT, NORMALIZED, FUZZY, UNALIGNED = "exact", "normalized", "fuzzy", "unaligned"
_RANK = {EXACT: 0, NORMALIZED: 1, FUZZY: 2, UNALIGNED: 3}
DEFAULT_FUZZY_THRESHOLD = 0.85
CONTEXT_CHARS = 300
SOURCE_TEXT_CHARS = 1200
_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"), "-")


@dataclass(frozen=True)
class Alignment:
    quote: str
    start: int | None
    end: int | None
    status: str

    def as_support(self) -> dict:
        return {"quote": self.quote, "start": self.start, "end": self.end, "alignment": self.status}


def _normalize_with_map(text: str) -> tuple[str, list[int]]:
    """Normalized text plus, for each of its characters, the index of its source character."""
    out: list[str] = []
    where: list[int] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        # a word hyphenated across a line break: "segmen-\ntation" -> "segmentation"
        if ch == "-" and out and out[-1].isalnum():
            j = i + 1
            while j < n and text[j] in " \t\r":
                j += 1
            if j < n and text[j] == "\n":
                j += 1
                while j < n and text[j] in " \t\r":
                    j += 1
                if j < n and text[j].isalnum():
                    i = j
                    continue
        if ch.isspace():
            if out and out[-1] != " ":
                out.append(" ")
                where.append(i)
            i += 1
            continue
        for folded in unicodedata.normalize("NFKC", ch).translate(_DASHES).casefold():
            out.append(folded)
            where.append(i)
        i += 1
    return "".join(out), where


def _normalize(text: str) -> str:
    return _normalize_with_map(text)[0].strip()


def align_quote(passage: str, quote: str, fuzzy_threshold: float = DEFAULT_FUZZY_THRESHOLD) -> Alignment:
    if not quote or not quote.strip():
        return Alignment(quote, None, None, UNALIGNED)
    start = passage.find(quote)
    if start >= 0:
        return Alignment(quote, start, start + len(quote), EXACT)

    norm_passage, where = _normalize_with_map(passage)
    norm_quote = _normalize(quote)
    if not norm_quote:
        return Alignment(quote, None, None, UNALIGNED)
    at = norm_passage.find(norm_quote)
    if at >= 0:
        return Alignment(quote, where[at], where[at + len(norm_quote) - 1] + 1, NORMALIZED)

    best = _best_fuzzy_window(norm_passage, norm_quote)
    if best is not None and best[0] >= fuzzy_threshold:
        _, lo, hi = best
        return Alignment(quote, where[lo], where[hi - 1] + 1, FUZZY)
    return Alignment(quote, None, None, UNALIGNED)


def _best_fuzzy_window(text: str, quote: str) -> tuple[float, int, int] | None:
    """Best (ratio, start, end) over windows that start at a word boundary and are about
    as long as the quote. Linear in the passage length for a bounded quote length."""
    if len(quote) < 8 or len(text) < len(quote) // 2:
        return None  # too short for similarity to mean anything
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == " "]
    lengths = {len(quote), int(len(quote) * 0.9), int(len(quote) * 1.1)}
    matcher = SequenceMatcher(autojunk=False)
    matcher.set_seq2(quote)
    best = None
    for lo in starts:
        for length in lengths:
            hi = min(len(text), lo + length)
            matcher.set_seq1(text[lo:hi])
            if matcher.real_quick_ratio() < (best[0] if best else 0.5):
                continue
            ratio = matcher.ratio()
            if best is None or ratio > best[0]:
                best = (ratio, lo, hi)
    if best is None:
        return None
    ratio, lo, hi = best
    while hi > lo and text[hi - 1] == " ":  # no trailing space in the span
        hi -= 1
    return ratio, lo, hi


def overall_status(alignments: list[Alignment]) -> str:
    """The best status among a concept's quotes (a concept is as well supported as its best quote)."""
    if not alignments:
        return UNALIGNED
    return min((a.status for a in alignments), key=_RANK.__getitem__)


def context_around(passage: str, start: int, end: int, width: int = CONTEXT_CHARS) -> str:
    """At most ``width`` characters of the passage centred on [start, end)."""
    span = end - start
    if span >= width:
        return passage[start:start + width]
    pad = (width - span) // 2
    lo = max(0, start - pad)
    hi = min(len(passage), lo + width)
    lo = max(0, hi - width)
    return passage[lo:hi]


def build_evidence(passage: str, surface: str, quotes: list[str], confidence: float, notes: str,
                   fuzzy_threshold: float = DEFAULT_FUZZY_THRESHOLD) -> dict:
    """The evidence JSON of one concept row (SPEC §2)."""
    alignments = [align_quote(passage, q, fuzzy_threshold) for q in quotes]
    first = next((a for a in alignments if a.start is not None), None)
    context = context_around(passage, first.start, first.end) if first else ""
    return {
        "surface": surface,
        "support": [a.as_support() for a in alignments],
        "context": context,
        "quality": {"confidence": confidence, "alignment": overall_status(alignments), "notes": notes},
    }
