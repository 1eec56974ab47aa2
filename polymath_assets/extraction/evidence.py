"""Evidence alignment: we locate the model's quotes in the passage ourselves.

Offsets from a model are never trusted. Each quote is searched for:

1. ``exact``      — verbatim at word boundaries; ``passage[start:end] == quote``
   (``CIFAR-10`` is not found inside ``CIFAR-100``).
2. ``normalized`` — the same token sequence after normalization: case, unicode
   compatibility forms (ligatures), dash and quote variants, NBSP and whitespace runs,
   invisible characters (zero-width, invisible operators, soft hyphen) and words
   hyphenated across a line break are folded, treebank escapes read as what they stand
   for (-LRB- is "(", a pair of backticks or of single quotes is '"', "is n't" is
   "isn't"), and spacing at punctuation is ignored (``ResNet-101`` = ``ResNet - 101``,
   ``(CNN)`` = ``( CNN )``).
   Short quotes (``BLEU-4``) align here too. The offsets are those of the original
   span, so ``passage[start:end]`` is the text as printed in the passage.
3. ``fuzzy``      — for quotes of at least ``FUZZY_MIN_WORDS`` words: a window of whole
   passage words whose word-level similarity to the quote reaches the threshold (the
   caller's, from configuration), and whose numbers are the quote's numbers, in order
   (``92.1`` is not ``91.2``; ``from 78.9 to 76.5`` is not the reverse). Its ``score`` is
   that similarity; exact and normalized spans score 1.0.
4. ``unaligned``  — kept, with no offsets: we never invent them.

Every span starts and ends at token boundaries: never inside a word. When a quote
occurs more than once, the occurrence nearest the concept's surface form wins.

Speed: the passage is tokenized once (cached) into an index of token positions. The
fuzzy step only scores windows on the few diagonals where the quote's tokens vote for
an alignment, so it is linear in the quote, not quadratic in the passage.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

EXACT, NORMALIZED, FUZZY, UNALIGNED = "exact", "normalized", "fuzzy", "unaligned"
_RANK = {EXACT: 0, NORMALIZED: 1, FUZZY: 2, UNALIGNED: 3}
DEFAULT_FUZZY_THRESHOLD = 0.85
CONTEXT_CHARS = 300
SOURCE_TEXT_CHARS = 1200
# Below this many words similarity says little: "neural network" ~ "neural networks"
# is a different phrase, not a slip. Such quotes must match exactly or normalized.
FUZZY_MIN_WORDS = 4
# A changed word gets partial credit only when it is nearly the same word
# (microscopes/microscopy), never for CNN/RNN.
_SOFT_WORD_MIN = 0.8
# Diagonals scored per quote, and the band (in tokens) an insertion may shift one.
_CANDIDATES = 3
_BAND = 2

_FOLD = {
    **dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"), "-"),
    **dict.fromkeys(map(ord, "\u2018\u2019\u201a\u201b\u2032\u0060\u00b4"), "'"),
    **dict.fromkeys(map(ord, "\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb"), '"'),
}
_ASCII_TOKEN = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")
_LINE_BREAK_HYPHEN = re.compile(r"-[ \t\r]*\n")
_ESCAPED_BRACKET = re.compile(r"-[lr][rsc]b-", re.IGNORECASE)


@dataclass(frozen=True)
class Alignment:
    quote: str
    start: int | None
    end: int | None
    status: str
    score: float | None = None  # 1.0 for exact/normalized, the similarity for fuzzy

    def as_support(self) -> dict:
        support = {"quote": self.quote, "start": self.start, "end": self.end, "alignment": self.status}
        if self.status == FUZZY:  # stored only where it says something: exact/normalized are 1.0
            support["score"] = self.score
        return support


def is_word_char(ch: str) -> bool:
    """Letters, digits and combining marks make words; spans never separate two of them."""
    return ch.isalnum() or unicodedata.category(ch)[0] == "M"


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    """A character as compared: NFKC (ligatures, NBSP, full-width forms), dash and quote
    variants folded, case folded; invisible format characters (zero-width, invisible
    operators, soft hyphen, BOM) vanish."""
    if unicodedata.category(ch) == "Cf":
        return ""
    return unicodedata.normalize("NFKC", ch).translate(_FOLD).casefold().translate(_FOLD)


@dataclass(frozen=True)
class Tokens:
    """Normalized tokens (maximal runs of word characters, or one punctuation character)
    with their [start, end) in the original text."""
    text: tuple[str, ...]
    starts: tuple[int, ...]
    ends: tuple[int, ...]


def tokenize(text: str) -> Tokens:
    if text.isascii() and "`" not in text and not _LINE_BREAK_HYPHEN.search(text):
        found = [(m.group(), m.start(), m.end()) for m in _ASCII_TOKEN.finditer(text.lower())]
    else:
        found = _tokenize_unicode(text)
    if "'" in text or "`" in text or not text.isascii():
        found = _join_contractions(_join_quote_pairs(found))
    if not found:
        return Tokens((), (), ())
    if _ESCAPED_BRACKET.search(text):
        found = _unescape_brackets(found)
    words, starts, ends = zip(*found)
    return Tokens(words, starts, ends)


def _tokenize_unicode(text: str) -> list[tuple[str, int, int]]:
    found: list[tuple[str, int, int]] = []
    word: list[str] = []
    word_start = word_end = 0
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        # a word hyphenated across a line break: "segmen-\ntation" -> "segmentation"
        if ch in "-\u00ad\u2010" and word and word_end == i:
            j = i + 1
            while j < n and text[j] in " \t\r":
                j += 1
            if j < n and text[j] == "\n":
                j += 1
                while j < n and text[j] in " \t\r":
                    j += 1
                if j < n and is_word_char(text[j]):
                    i = j
                    word_end = j  # the word goes on at j
                    continue
        folded = _fold_char(ch)
        if not folded:  # invisible: neither a character nor a break
            if word and word_end == i:
                word_end = i + 1
            i += 1
            continue
        for c in folded:
            if is_word_char(c):
                if not word or word_end < i:
                    if word:
                        found.append(("".join(word), word_start, word_end))
                    word, word_start = [], i
                word.append(c)
                word_end = i + 1
            else:
                if word:
                    found.append(("".join(word), word_start, word_end))
                    word = []
                if not c.isspace():
                    found.append((c, i, i + 1))
        i += 1
    if word:
        found.append(("".join(word), word_start, word_end))
    return found


def _join_quote_pairs(found: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Two single quotes written together are a double quote: treebank `` and '' read as "."""
    out: list[tuple[str, int, int]] = []
    for tok in found:
        if tok[0] == "'" and out and out[-1][0] == "'" and out[-1][2] == tok[1]:
            out[-1] = ('"', out[-1][1], tok[2])
        else:
            out.append(tok)
    return out


def _join_contractions(found: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Treebank text splits "isn't" as "is n't": both become one token "isn't"."""
    out: list[tuple[str, int, int]] = []
    k = 0
    while k < len(found):
        tok = found[k]
        rest = found[k + 1:k + 4]
        if is_word_char(tok[0][0]) and len(rest) >= 2 and rest[0][0] == "'" and rest[1][0] == "t" \
                and tok[0].endswith("n") and tok[2] == rest[0][1] and rest[0][2] == rest[1][1]:
            out.append((tok[0] + "'t", tok[1], rest[1][2]))       # isn't
            k += 3
        elif is_word_char(tok[0][0]) and len(rest) == 3 and [r[0] for r in rest] == ["n", "'", "t"] \
                and rest[0][2] == rest[1][1] and rest[1][2] == rest[2][1] and tok[2] < rest[0][1]:
            out.append((tok[0] + "n't", tok[1], rest[2][2]))      # is n't
            k += 4
        else:
            out.append(tok)
            k += 1
    return out


# Treebank-tokenized corpora escape brackets: "-LRB- CNN -RRB-" is "( CNN )".
_BRACKETS = {"lrb": "(", "rrb": ")", "lsb": "[", "rsb": "]", "lcb": "{", "rcb": "}"}


def _unescape_brackets(found: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    out: list[tuple[str, int, int]] = []
    k = 0
    while k < len(found):
        if k + 2 < len(found) and found[k][0] == "-" and found[k + 2][0] == "-" and found[k + 1][0] in _BRACKETS \
                and found[k][2] == found[k + 1][1] and found[k + 1][2] == found[k + 2][1]:
            out.append((_BRACKETS[found[k + 1][0]], found[k][1], found[k + 2][2]))
            k += 3
            continue
        out.append(found[k])
        k += 1
    return out


@dataclass(frozen=True)
class _Passage:
    tokens: Tokens
    positions: dict[str, list[int]]    # token -> its indexes in tokens.text
    words: tuple[int, ...]             # indexes of the word (not punctuation) tokens
    word_text: tuple[str, ...]
    word_positions: dict[str, list[int]]  # word -> its indexes in word_text


@lru_cache(maxsize=16)  # build_evidence aligns every concept of a passage against the same text
def _index(passage: str) -> _Passage:
    tokens = tokenize(passage)
    positions: dict[str, list[int]] = {}
    for k, tok in enumerate(tokens.text):
        positions.setdefault(tok, []).append(k)
    words = tuple(k for k, tok in enumerate(tokens.text) if is_word_char(tok[0]))
    word_text = tuple(tokens.text[k] for k in words)
    word_positions: dict[str, list[int]] = {}
    for w, tok in enumerate(word_text):
        word_positions.setdefault(tok, []).append(w)
    return _Passage(tokens, positions, words, word_text, word_positions)


def _numbers(tokens) -> list[str]:
    return [t for t in tokens if any(c.isdigit() for c in t)]


def align_quote(passage: str, quote: str, fuzzy_threshold: float = DEFAULT_FUZZY_THRESHOLD,
                surface: str | None = None) -> Alignment:
    """Where ``quote`` is in ``passage`` and how it was found. With several occurrences,
    the one nearest ``surface`` (the concept as written) when that is in the passage,
    else the first."""
    if not quote or not quote.strip():
        return Alignment(quote, None, None, UNALIGNED)
    # a quote padded with whitespace is not taken verbatim: its span would start on a space
    exact = _exact_spans(passage, quote) if quote == quote.strip() else []
    if exact:
        start, end = _nearest(exact, passage, surface)
        return Alignment(quote, start, end, EXACT, 1.0)

    index = _index(passage)
    q = tokenize(quote)
    if not q.text:
        return Alignment(quote, None, None, UNALIGNED)
    found = _token_spans(index, q.text)
    if found:
        start, end = _nearest(found, passage, surface)
        return Alignment(quote, start, end, NORMALIZED, 1.0)

    best = _fuzzy(index, q.text, fuzzy_threshold, passage, surface)
    if best is not None:
        score, start, end = best
        return Alignment(quote, start, end, FUZZY, round(score, 4))
    return Alignment(quote, None, None, UNALIGNED)


def _exact_spans(passage: str, quote: str) -> list[tuple[int, int]]:
    """Verbatim occurrences that neither start nor end inside a word."""
    spans = []
    n = len(quote)
    head_is_word, tail_is_word = is_word_char(quote[0]), is_word_char(quote[-1])
    at = passage.find(quote)
    while at >= 0:
        end = at + n
        if not (head_is_word and at > 0 and is_word_char(passage[at - 1])) and \
                not (tail_is_word and end < len(passage) and is_word_char(passage[end])):
            spans.append((at, end))
        at = passage.find(quote, at + 1)
    return spans


def _token_spans(index: _Passage, wanted: tuple[str, ...]) -> list[tuple[int, int]]:
    """Original [start, end) of every occurrence of a token sequence."""
    tokens, n = index.tokens, len(wanted)
    # anchor on the rarest token of the quote: few places to check
    anchor = min(range(n), key=lambda j: len(index.positions.get(wanted[j], ())))
    spans = []
    for k in index.positions.get(wanted[anchor], ()):
        first = k - anchor
        if first >= 0 and tokens.text[first:first + n] == wanted:
            spans.append((tokens.starts[first], tokens.ends[first + n - 1]))
    return spans


def _surface_spans(passage: str, surface: str | None) -> list[tuple[int, int]]:
    if not surface or not surface.strip():
        return []
    wanted = tokenize(surface).text
    return _token_spans(_index(passage), wanted) if wanted else []


def _nearest(spans: list[tuple[int, int]], passage: str, surface: str | None) -> tuple[int, int]:
    if len(spans) == 1:
        return spans[0]
    anchors = _surface_spans(passage, surface)
    if not anchors:
        return spans[0]

    def distance(span):  # 0 when the span overlaps an occurrence of the surface form
        return min(max(0, a_start - span[1], span[0] - a_end) for a_start, a_end in anchors)
    return min(spans, key=lambda span: (distance(span), span[0]))


def _word_similarity(quote: tuple[str, ...], window: tuple[str, ...]) -> float:
    """2·matches / (|quote| + |window|) over words, where a nearly identical word in the
    place of a changed one counts its character similarity."""
    if not quote or not window:
        return 0.0
    matcher = SequenceMatcher(None, quote, window, autojunk=False)
    matched = 0.0
    qi = wi = 0
    for qa, wa, size in matcher.get_matching_blocks():
        gap_q, gap_w = quote[qi:qa], window[wi:wa]
        if gap_q and len(gap_q) == len(gap_w):
            for a, b in zip(gap_q, gap_w):
                if not (_numbers((a,)) or _numbers((b,))):
                    soft = SequenceMatcher(None, a, b, autojunk=False).ratio()
                    if soft >= _SOFT_WORD_MIN:
                        matched += soft
        matched += size
        qi, wi = qa + size, wa + size
    return 2.0 * matched / (len(quote) + len(window))


def _fuzzy(index: _Passage, quote_tokens: tuple[str, ...], threshold: float, passage: str,
           surface: str | None) -> tuple[float, int, int] | None:
    quote = tuple(t for t in quote_tokens if is_word_char(t[0]))
    n, total = len(quote), len(index.word_text)
    if n < FUZZY_MIN_WORDS or total == 0:
        return None
    # At best every missing word is a soft match of similarity < 1: a window needs at
    # least this many exact word matches on one diagonal to have a chance.
    need = max(2, math.ceil(n * threshold) - n // 3)
    votes: Counter = Counter()
    for j, word in enumerate(quote):
        for w in index.word_positions.get(word, ()):
            votes[w - j] += 1
    if not votes:
        return None
    banded = Counter()
    for diagonal in votes:
        banded[diagonal] = sum(votes.get(diagonal + d, 0) for d in range(-_BAND, _BAND + 1))
    numbers = _numbers(quote_tokens)
    results: list[tuple[float, int, int]] = []
    chosen: list[int] = []
    for diagonal, count in banded.most_common():
        if count < need or len(chosen) == _CANDIDATES:
            break
        if any(abs(diagonal - c) <= 2 * _BAND for c in chosen):
            continue  # the same alignment seen from a neighbouring diagonal
        chosen.append(diagonal)
        scored = []
        for lo, hi in _windows(index, quote, diagonal):
            if _numbers(index.tokens.text[index.words[lo]:index.words[hi - 1] + 1]) != numbers:
                continue  # digits must agree: 91.2 is not 92.1
            scored.append((_word_similarity(quote, index.word_text[lo:hi]), lo, hi))
        if scored:
            score, lo, hi = max(scored, key=lambda s: s[0])  # ties: the first window
            if score >= threshold:
                results.append((score, *_span(index, quote_tokens, lo, hi)))
    if not results:
        return None
    top = max(r[0] for r in results)
    best = [(start, end) for score, start, end in results if score == top]
    start, end = _nearest(best, passage, surface)
    return top, start, end


def _windows(index: _Passage, quote: tuple[str, ...], diagonal: int) -> list[tuple[int, int]]:
    """Word windows [lo, hi) to score for one diagonal. Their ends come from the quote's
    length, never from where matching happens to stop, so a changed first or last word is
    read as a substitution (the span covers it) and not cut off:

    1. the quote laid over the passage along its longest matching run (substitutions only);
    2. from the quote's first to its last matching word, each projected to the quote's ends
       (a word left out or added inside the quote)."""
    total, n = len(index.word_text), len(quote)
    lo = max(0, diagonal - _BAND)
    hi = min(total, diagonal + n + _BAND)
    if lo >= hi:
        return []
    blocks = [b for b in SequenceMatcher(None, quote, index.word_text[lo:hi], autojunk=False)
              .get_matching_blocks() if b.size]
    if not blocks:
        return []
    main = max(blocks, key=lambda b: b.size)
    offset = main.b - main.a
    # a stray common word ("in", "the") matched far off the run's diagonal says nothing
    kept = [b for b in blocks if abs((b.b - b.a) - offset) <= _BAND]
    first, last = kept[0], kept[-1]
    windows = []
    for start, end in ((lo + offset, lo + offset + n),
                       (lo + first.b - first.a, lo + last.b + last.size + n - (last.a + last.size))):
        window = (max(0, start), min(total, end))
        if window[0] < window[1] and window not in windows:
            windows.append(window)
    return windows


def _span(index: _Passage, quote_tokens: tuple[str, ...], lo: int, hi: int) -> tuple[int, int]:
    """Original offsets of word window [lo, hi), widened over punctuation the quote also
    has at its edges (a quote ending in ')' keeps its ')')."""
    tokens = index.tokens
    first, last = index.words[lo], index.words[hi - 1]
    lead = 0
    while lead < len(quote_tokens) and not is_word_char(quote_tokens[lead][0]):
        lead += 1
    trail = 0
    while trail < len(quote_tokens) and not is_word_char(quote_tokens[-1 - trail][0]):
        trail += 1
    for j in range(lead):
        k = first - (j + 1)
        if k < 0 or tokens.text[k] != quote_tokens[lead - 1 - j]:
            break
        first = k
    for j in range(trail):
        k = last + j + 1
        if k >= len(tokens.text) or tokens.text[k] != quote_tokens[len(quote_tokens) - trail + j]:
            break
        last = k
    return tokens.starts[first], tokens.ends[last]


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


def build_evidence(passage: str, surface: str, quotes: list[str], confidence: float, notes: str | None,
                   fuzzy_threshold: float = DEFAULT_FUZZY_THRESHOLD) -> dict:
    """The evidence JSON of one concept row as stored (SPEC §2 without ``source_text``).
    ``notes`` None leaves ``quality.notes`` to the ``passage_concepts_evidence`` view, which
    derives it from the row's extractor_model instead of storing it in every row."""
    alignments = [align_quote(passage, q, fuzzy_threshold, surface) for q in quotes]
    first = next((a for a in alignments if a.start is not None), None)
    context = context_around(passage, first.start, first.end) if first else ""
    return {
        "surface": surface,
        "support": [a.as_support() for a in alignments],
        "context": context,
        "quality": {"confidence": confidence, "alignment": overall_status(alignments),
                    **({"notes": notes} if notes is not None else {})},
    }


# --- the compact answer format: evidence built from the located span ---------------------

_SENTENCE_END = re.compile(r"[.!?](?=\s)|\n\s*\n")


def sentence_context(passage: str, start: int, end: int, width: int = CONTEXT_CHARS) -> str:
    """The sentence holding [start, end), at most ``width`` characters: a longer sentence
    is cut to the window around the span (never beyond the sentence)."""
    lo = 0
    for match in _SENTENCE_END.finditer(passage, 0, start):
        lo = match.end()
    found = _SENTENCE_END.search(passage, end)
    hi = found.end() if found else len(passage)
    while lo < start and passage[lo].isspace():
        lo += 1
    sentence = passage[lo:hi]
    if len(sentence) <= width:
        return sentence
    return context_around(sentence, start - lo, end - lo, width)


@dataclass(frozen=True)
class SpanLocation:
    """Where a compact-format span is: its alignment, how many times it occurs, and how the
    occurrence was chosen (``hint``: the model's short quote said which; ``first``)."""
    alignment: Alignment
    occurrences: int
    resolved_by: str | None

    def as_support(self) -> dict:
        support = self.alignment.as_support()
        if self.occurrences > 1:  # recorded only where there was a choice
            support["occurrences"] = self.occurrences
            support["resolved_by"] = self.resolved_by
        return support


def _occurrences(passage: str, span: str) -> tuple[list[tuple[int, int]], str]:
    if span == span.strip():
        exact = _exact_spans(passage, span)
        if exact:
            return exact, EXACT
    wanted = tokenize(span).text
    return (_token_spans(_index(passage), wanted), NORMALIZED) if wanted else ([], UNALIGNED)


def locate_span(passage: str, span: str, hint: str | None = None,
                fuzzy_threshold: float = DEFAULT_FUZZY_THRESHOLD) -> SpanLocation:
    """The occurrence of ``span`` the model meant: inside its ``hint`` (a short quote) when
    the hint is located and holds one, else the first. A span found nowhere (verbatim or
    normalized) gets the fuzzy pass on its own words; otherwise it stays unaligned. The
    hint only chooses among the span's own occurrences: it is never located in the span's
    place (a made-up span with a real hint would get the hint's offsets and confidence 1)."""
    if not span or not span.strip():
        return SpanLocation(Alignment(span, None, None, UNALIGNED), 0, None)
    spans, status = _occurrences(passage, span)
    if spans:
        chosen, resolved_by = spans[0], "first"
        if hint and len(spans) > 1:
            where = align_quote(passage, hint, fuzzy_threshold)
            inside = [s for s in spans if where.start is not None and where.start <= s[0] and s[1] <= where.end]
            if inside:
                chosen, resolved_by = inside[0], "hint"
        return SpanLocation(Alignment(span, chosen[0], chosen[1], status, 1.0), len(spans), resolved_by)
    fuzzy = align_quote(passage, span, fuzzy_threshold)
    return SpanLocation(fuzzy, 1 if fuzzy.start is not None else 0, None)


def span_confidence(alignment: Alignment) -> float:
    """The row's confidence when the answer format carries none: how well its span was
    located (1.0 verbatim or normalized, the similarity for fuzzy, 0 when not found, which
    keeps it below any merge-policy floor until it is repaired)."""
    return alignment.score if alignment.start is not None and alignment.score is not None else 0.0


def build_span_evidence(passage: str, surface: str, locations: list[SpanLocation]) -> dict:
    """The evidence JSON of a compact-format concept: ``support`` is each located text (the
    span, and an expansion the passage spells out), ``context`` the first one's sentence,
    and the confidence how well that one was located. Offsets are ours, verified exactly
    as for quotes; nothing is invented."""
    alignments = [loc.alignment for loc in locations]
    first = next((a for a in alignments if a.start is not None), None)
    return {
        "surface": surface,
        "support": [loc.as_support() for loc in locations],
        "context": sentence_context(passage, first.start, first.end) if first else "",
        "quality": {"confidence": span_confidence(first) if first else 0.0, "alignment": overall_status(alignments)},
    }
