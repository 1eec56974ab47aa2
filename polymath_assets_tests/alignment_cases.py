"""Quote-alignment cases built from the real SciERC abstracts, shared by the tests and
``benchmarks/aligner_bench.py``.

Each case is a (passage, quote, surface) triple with the set of spans that count as the
right answer. Quotes are written the way a language model writes them: detokenized
(``ResNet - 101`` -> ``ResNet-101``, ``-LRB- CNN -RRB-`` -> ``(CNN)``), then perturbed per
class. Everything is deterministic for a seed.

What "intended" means (``Case.intended``):

- For a gold mention or a clause around it (a window of whole passage tokens inside
  one sentence): the gold span / clause span, plus every other place where the passage
  has the *same text* (case-insensitive, whitespace ignored, at word boundaries). A quote
  that occurs twice is found correctly at either place; which one is preferred is the
  ``repeated`` class's business.
- ``clause_changed`` (a clause with one word replaced): the clause span.
- ``repeated``: a word of a multi-word gold mention that also occurs elsewhere in the
  passage, quoted alone, with the mention as the concept's surface form: only the
  occurrence(s) inside the mention.
- ``invented``, ``paraphrase`` (reordered, or a third of the words reworded) and
  ``wrong_number`` (a clause of the passage with one number changed, e.g. 91.2 -> 92.1):
  nothing; they must stay unaligned.
- ``other_abstract``: a gold mention of another abstract: nothing, unless its text
  genuinely occurs in this passage at word boundaries (e.g. "method"): then those
  occurrences are the right answer and aligning there is correct, not false.

The definition of "same text" here is deliberately independent of the aligner's
tokenizer: lower-cased characters with whitespace removed, bounded by non-alphanumerics.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache

from polymath_assets_tests.real_text import load_scierc

POSITIVE = ("exact", "case", "detok", "whitespace", "en_dash", "nbsp", "ligature", "curly_quotes",
            "zero_width", "clause_changed", "repeated")
NEGATIVE = ("invented", "paraphrase", "wrong_number", "other_abstract")
CLASSES = POSITIVE + NEGATIVE

_ESCAPES = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}",
            "``": '"', "''": '"'}
_NO_SPACE_BEFORE = {",", ".", ";", ":", ")", "]", "}", "%", "'s", "n't", "?", "!", "-", "/"}
_NO_SPACE_AFTER = {"(", "[", "{", "-", "/", "$"}
_INVENTED = (
    "the authors conclude that {m} is unsuitable for any low-resource language",
    "{m} was abandoned after reviewers found serious flaws in every experiment",
    "surprisingly, {m} performs worse than a random baseline on all benchmarks",
    "we never evaluate {m} because it requires proprietary hardware",
    "our survey of practitioners shows that nobody uses {m} in production anymore",
)
_FILLERS = ("approach", "which", "novel", "considerably", "whereas", "notably", "thereby", "overall")


@dataclass(frozen=True)
class Case:
    cls: str
    doc_id: str
    passage: str
    quote: str
    surface: str
    intended: frozenset  # of (start, end); empty: the quote must stay unaligned


def detokenize(tokens: list[str]) -> str:
    """Space-separated treebank tokens as a person (or a model) writes them."""
    out = ""
    prev = None
    for raw in tokens:
        tok = _ESCAPES.get(raw, raw)
        if prev is None:
            out = tok
        elif raw in _NO_SPACE_BEFORE or raw in ("-RRB-", "-RSB-", "-RCB-", "''") or prev in _NO_SPACE_AFTER \
                or prev in ("-LRB-", "-LSB-", "-LCB-", "``"):
            out += tok
        else:
            out += " " + tok
        prev = raw
    return out


def same_text_spans(passage: str, text: str) -> set[tuple[int, int]]:
    """Every [start, end) of the passage that reads ``text`` (case-insensitive, whitespace
    ignored) and neither starts nor ends inside an alphanumeric run."""
    key = re.sub(r"\s+", "", text.lower())
    squeezed, where = _squeeze(passage)
    spans = set()
    if not key:
        return spans
    at = squeezed.find(key)
    while at >= 0:
        start, end = where[at], where[at + len(key) - 1] + 1
        if not (key[0].isalnum() and start > 0 and passage[start - 1].isalnum()) and \
                not (key[-1].isalnum() and end < len(passage) and passage[end].isalnum()):
            spans.add((start, end))
        at = squeezed.find(key, at + 1)
    return spans


@cache
def _squeeze(passage: str) -> tuple[str, tuple[int, ...]]:
    where = tuple(i for i, ch in enumerate(passage) if not ch.isspace())
    return "".join(passage[i] for i in where).lower(), where


def _token_offsets(passage: str) -> list[tuple[str, int, int]]:
    return [(m.group(), m.start(), m.end()) for m in re.finditer(r"\S+", passage)]


def _is_word(tok: str) -> bool:
    return tok[0].isalnum() and tok[-1].isalnum()


def _clause(tokens, a: int, b: int, rng: random.Random, min_words: int = 0) -> tuple[int, int] | None:
    """Token window [lo, hi) around [a, b), inside its sentence, starting and ending on a word."""
    lo, hi = a, b
    for _ in range(rng.randint(3, 7)):
        if lo == 0 or tokens[lo - 1][0] in (".", "?", "!"):
            break
        lo -= 1
    for _ in range(rng.randint(3, 7)):
        if hi == len(tokens) or tokens[hi][0] in (".", "?", "!"):
            break
        hi += 1
    while lo < a and not _is_word(tokens[lo][0]):
        lo += 1
    while hi > b and not _is_word(tokens[hi - 1][0]):
        hi -= 1
    if sum(_is_word(t[0]) for t in tokens[lo:hi]) < min_words:
        return None
    return lo, hi


def _mention_tokens(tokens, mention) -> tuple[int, int] | None:
    starts = {s: k for k, (_, s, _) in enumerate(tokens)}
    ends = {e: k for k, (_, _, e) in enumerate(tokens)}
    if mention["start"] in starts and mention["end"] in ends:
        return starts[mention["start"]], ends[mention["end"]] + 1
    return None


def _perturb(cls: str, text: str, rng: random.Random) -> str | None:
    """The quote of a perturbation class, or None where the class changes nothing."""
    if cls == "exact":
        return text
    if cls == "detok":
        return text  # the caller passes the detokenized text; it must differ from the passage
    if cls == "case":
        return text.lower() if text != text.lower() else text.upper()
    if cls == "whitespace":
        if " " not in text:
            return None
        parts = text.split(" ")
        glue = [rng.choice(("  ", "\n", " \t ", "   ")) for _ in parts[1:]]
        return rng.choice(("", " ", "\n")) + parts[0] + "".join(g + p for g, p in zip(glue, parts[1:]))
    if cls == "en_dash":
        return text.replace("-", "\u2013") if "-" in text else None
    if cls == "nbsp":
        return text.replace(" ", "\u00a0") if " " in text else None
    if cls == "ligature":
        out = text.replace("ffi", "\ufb03").replace("fi", "\ufb01").replace("fl", "\ufb02").replace("ff", "\ufb00")
        return out if out != text else None
    if cls == "curly_quotes":
        if '"' not in text and "'" not in text:
            return None
        out, opening = [], True
        for ch in text:
            if ch == '"':
                out.append("\u201c" if opening else "\u201d")
                opening = not opening
            else:
                out.append("\u2019" if ch == "'" else ch)
        return "".join(out)
    if cls == "zero_width":
        words = [k for k, ch in enumerate(text) if ch.isalpha()]
        if len(words) < 3:
            return None
        k = rng.choice(words[1:-1])
        return text[:k] + rng.choice(("\u200b", "\u2062", "\u00ad")) + text[k:]
    raise ValueError(cls)


def _change_one_word(words: list[str], rng: random.Random, vocabulary: list[str]) -> list[str] | None:
    choices = [k for k, w in enumerate(words) if w.isalpha()]
    if not choices:
        return None
    k = rng.choice(choices)
    for _ in range(20):
        new = rng.choice(vocabulary)
        if new.lower() != words[k].lower():
            return words[:k] + [new] + words[k + 1:]
    return None


def _paraphrase(words: list[str], rng: random.Random) -> str:
    """A rewording that shares vocabulary with the passage but is not in it: either the
    clause's second half first with every third word replaced, or the clause in order
    with every third word replaced."""
    if rng.random() < 0.5:
        half = len(words) // 2
        words = words[half:] + ["because"] + words[:half]
    return " ".join(rng.choice(_FILLERS) if k % 3 == 1 else w for k, w in enumerate(words))


def _change_number(text: str, rng: random.Random) -> str | None:
    """One number of the text changed the way a model misquotes one: digits swapped or
    shifted (91.2 -> 92.1, 78.9 -> 79.9)."""
    numbers = list(re.finditer(r"\d+(?:\.\d+)?", text))
    if not numbers:
        return None
    m = rng.choice(numbers)
    digits = m.group()
    swapped = digits[::-1] if digits[::-1] != digits and not digits[::-1].startswith("0") else None
    new = swapped or str(int(digits.split(".")[0]) + 1) + digits[len(digits.split(".")[0]):]
    return text[:m.start()] + new + text[m.end():]


@cache
def _vocabulary(seed: int) -> tuple[str, ...]:
    words = sorted({w for row in load_scierc() for w in row["passage_text"].split() if w.isalpha() and len(w) > 3})
    random.Random(seed).shuffle(words)
    return tuple(words[:5000])


def build_cases(seed: int = 7, per_abstract: int = 1, limit_abstracts: int | None = None) -> list[Case]:
    """Up to ``per_abstract`` mention cases and as many clause cases per class and abstract."""
    rows = load_scierc()[:limit_abstracts]
    vocabulary = list(_vocabulary(seed))
    all_mentions = [(row["doc_id"], m["text"]) for row in rows for m in row["mentions"]]
    cases: list[Case] = []
    for row in rows:
        rng = random.Random(f"{seed}:{row['doc_id']}")
        passage, doc_id = row["passage_text"], row["doc_id"]
        tokens = _token_offsets(passage)
        mentions = []
        for m in row["mentions"]:
            slice_ = _mention_tokens(tokens, m)
            if slice_ is not None:
                mentions.append((m, slice_))
        rng.shuffle(mentions)

        def add(cls, quote, surface, intended, _doc=doc_id, _passage=passage):
            cases.append(Case(cls, _doc, _passage, quote, surface, frozenset(intended)))

        def unit_text(lo, hi, _tokens=tokens, _passage=passage):
            return _passage[_tokens[lo][1]:_tokens[hi - 1][2]]

        for cls in ("exact", "case", "detok", "whitespace", "en_dash", "nbsp", "ligature", "curly_quotes",
                    "zero_width"):
            for kind in ("mention", "clause"):
                made = 0
                for m, (a, b) in mentions:
                    if made == per_abstract:
                        break
                    lo, hi = (a, b) if kind == "mention" else (_clause(tokens, a, b, rng) or (a, b))
                    original = unit_text(lo, hi)
                    written = original if cls == "exact" else detokenize([t[0] for t in tokens[lo:hi]])
                    if cls == "detok" and written == original:
                        continue
                    quote = _perturb(cls, written, rng)
                    if quote is None or (cls != "exact" and quote == original):
                        continue
                    add(cls, quote, detokenize(m["text"].split()), same_text_spans(passage, original))
                    made += 1

        made = 0
        for m, (a, b) in mentions:
            if made == per_abstract:
                break
            window = _clause(tokens, a, b, rng, min_words=8)
            if window is None:
                continue
            lo, hi = window
            written = [t[0] for t in tokens[lo:hi]]
            changed = _change_one_word(written, rng, vocabulary)
            if changed is None:
                continue
            intended = {(tokens[lo][1], tokens[hi - 1][2])} | same_text_spans(passage, unit_text(lo, hi))
            add("clause_changed", detokenize(changed), detokenize(m["text"].split()), intended)
            made += 1

        made = 0
        for m, (a, b) in mentions:
            if made == per_abstract:
                break
            surface = unit_text(a, b)
            inside = same_text_spans(passage, surface)
            for word in sorted({t[0] for t in tokens[a:b] if t[0].isalpha() and len(t[0]) >= 4}):
                spans = same_text_spans(passage, word)
                within = {s for s in spans if any(lo <= s[0] and s[1] <= hi for lo, hi in inside)}
                if within and spans - within:
                    add("repeated", word, detokenize(surface.split()), within)
                    made += 1
                    break

        for m, (a, b) in mentions[:per_abstract]:
            template = rng.choice(_INVENTED)
            add("invented", template.format(m=detokenize(m["text"].split())), m["text"], ())
        made = 0
        for m, (a, b) in mentions:
            if made == per_abstract:
                break
            window = _clause(tokens, a, b, rng, min_words=8)
            if window is None:
                continue
            words = [t[0] for t in tokens[window[0]:window[1]] if _is_word(t[0])]
            add("paraphrase", _paraphrase(words, rng), detokenize(m["text"].split()), ())
            made += 1
        made = 0
        numbered = [k for k, t in enumerate(tokens) if any(c.isdigit() for c in t[0])]
        rng.shuffle(numbered)
        for k in numbered:
            if made == per_abstract:
                break
            window = _clause(tokens, k, k + 1, rng, min_words=6)
            if window is None:
                continue
            quote = _change_number(detokenize([t[0] for t in tokens[window[0]:window[1]]]), rng)
            if quote is not None:
                add("wrong_number", quote, tokens[k][0], same_text_spans(passage, quote))
                made += 1
        for _ in range(per_abstract):
            other_doc, text = rng.choice(all_mentions)
            while other_doc == doc_id:
                other_doc, text = rng.choice(all_mentions)
            quote = detokenize(text.split())
            add("other_abstract", quote, quote, same_text_spans(passage, text))
    return cases
