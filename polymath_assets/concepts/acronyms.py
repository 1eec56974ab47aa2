"""Acronym ↔ expansion pairs found in text, and in a list of names (stage ``acronym``).

In text, the Schwartz & Hearst (2003) rule: in ``long form ( SF )`` the short form's
characters appear, in order, in the words just before the bracket, the first one starting
the first word; the long form is the shortest such word span. The other order,
``SF ( long form )``, is read with the same rule over the bracket's words. Works on
detokenized text (``long short-term memory (LSTM)``), on tokenized text (``long short -
term memory ( LSTM )``, ``-LRB- LSTM -RRB-``), for plural short forms (``GANs``) and for
short forms with digits or lower-case letters (``ResNet``, ``BiLSTM``, ``mAP``).

In a list of names (``polymath concepts resolve``) there is no text: the list itself is the
evidence. An acronym pairs with a name of the list whose words it spells by their initials
(``GANs`` / ``generative adversarial networks``), or by their first letters for its
lower-case letters (``ResNet`` / ``residual network``, ``BiLSTM`` / ``bidirectional LSTM``),
when exactly one expansion of the list does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from polymath_assets.concepts.normalize import is_acronym_like, normalize_key, split_bracketed, unescape_brackets

_SHORT_IN_BRACKETS = re.compile(r"\(\s*([A-Za-z][A-Za-z0-9\-]{1,9}?)s?\s*\)")
# ``SF ( long form )``: a short form, then a bracket of two to twelve words.
_LONG_IN_BRACKETS = re.compile(r"(?<!\S)([A-Za-z][A-Za-z0-9\-]{1,9}?)s?\s*\(\s*([^()]{3,150}?)\s*\)")
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
        spelt = matched = None
        # Shortest span first: the long form starts as late as possible. A span whose words
        # the short form spells by their initials wins over the shortest Schwartz–Hearst
        # match (``object proposals`` also matches ``OOP``: its letters are in "proposals").
        for start in range(len(window) - 1, -1, -1):
            span = window[start:]
            if span[0].lower() in _STOP or not span[0][:1].isalnum():
                continue
            candidate = " ".join(span)
            if "(" in candidate or ")" in candidate:
                break
            if span[0][0].lower() == short[0].lower() and long_form_matches(short, candidate):
                matched = matched or candidate
                if initials_match(short, candidate):
                    spelt = candidate
                    break
        if spelt or matched:
            pairs.append((short, spelt or matched))
    for match in _LONG_IN_BRACKETS.finditer(text):
        short, long = match.group(1).rstrip("-"), " ".join(match.group(2).split())
        span = long.split()
        letters = sum(c.isalnum() for c in short)
        if (is_acronym_like(short) and 2 <= len(span) <= letters + 5 and span[0][:1].lower() == short[0].lower()
                and span[0].lower() not in _STOP and long_form_matches(short, long)):
            pairs.append((short, long))
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


def passage_definitions(text: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(acronym key, expansion key) → (acronym, expansion) as first written in one passage."""
    seen: dict[tuple[str, str], tuple[str, str]] = {}
    for short, long in find_pairs(text):
        for a, e in pair_keys([(short, long)]):
            seen.setdefault((a, e), (short, long))
    return seen


# Words an acronym may skip or spell (``BERT`` skips "from", ``IoU`` spells "over").
_MINOR = frozenset({"of", "and", "for", "in", "on", "with", "to", "by", "from", "over", "the", "a", "an", "via", "at"})
_NAME_WORD = re.compile(r"[^\W_]+")


def _acronym_letters(short: str) -> list[tuple[str, bool]]:
    """(letter or digit, must begin a word) of a short form, without a plural ``s``:
    upper-case letters and the first character begin words, lower-case letters and
    digits may also continue the word before (``Res|Net``, ``m|A|P``, ``Io|U``)."""
    text = re.sub(r"(?<=[A-Z0-9])s$", "", short.strip())
    chars = [c for c in text if c.isalnum()]
    return [(c.lower(), i == 0 or c.isupper()) for i, c in enumerate(chars)]


def initials_match(short: str, long: str) -> bool:
    """Whether ``short`` spells ``long``: each word of ``long`` gives a non-empty prefix
    (a minor word may give none), in order, and the prefixes make up ``short``; a letter
    that must begin a word does (``GAN`` = generative adversarial networks, ``ResNet`` =
    residual network, ``BiLSTM`` = bidirectional long short-term memory; ``SVM`` ≠
    "support vector")."""
    letters = _acronym_letters(short)
    found = [w.lower() for w in _NAME_WORD.findall(unescape_brackets(long))]
    if not letters or len(letters) > 12 or len(found) < 2 or len(found) > 2 * len(letters) + 2:
        return False  # a short form is short: the search below recurses once per letter

    @cache
    def fits(i: int, w: int, used: int) -> bool:
        """letters[i:] spell the rest: ``used`` letters of word ``w`` are spelt already
        (0: ``w`` is the next word to begin)."""
        if i == len(letters):
            return all(x in _MINOR for x in found[w + 1 if used else w:])
        char, begins = letters[i]
        if used and not begins and used < len(found[w]) and found[w][used] == char and fits(i + 1, w, used + 1):
            return True
        v = w + 1 if used else w
        while v < len(found):  # begin the next word, or one after minor words that give no letter
            if found[v][0] == char and fits(i + 1, v, 1):
                return True
            if found[v] not in _MINOR:
                return False
            v += 1
        return False

    return fits(0, 0, 0)


def _signature(words: list[str]) -> str:
    """The initials of a name's words that are not minor: what an acronym of it spells at least."""
    return "".join(w[0] for w in words if w not in _MINOR)


_MINOR_INITIALS = frozenset(w[0] for w in _MINOR)
_MOST_OPTIONAL = 10


def _signatures(letters: list[tuple[str, bool]]) -> list[str]:
    """Every signature an expansion this acronym spells may have: its letters, less any
    that may continue a word (lower case) or stand for a minor word (``o`` of "over")."""
    optional = [i for i, (char, begins) in enumerate(letters) if i and (not begins or char in _MINOR_INITIALS)]
    if len(optional) > _MOST_OPTIONAL:
        return []
    found = []
    for mask in range(1 << len(optional)):
        dropped = {optional[b] for b in range(len(optional)) if mask >> b & 1}
        found.append("".join(char for i, (char, _) in enumerate(letters) if i not in dropped))
    return list(dict.fromkeys(found))


def input_set_pairs(names: Iterable[str]) -> dict[str, tuple[str, bool]]:
    """Acronym key → (expansion key, whether a name of the list defines it) from a list of
    names alone: a name that defines its acronym (``convolutional neural network (CNN)``,
    by the rule of ``find_pairs``), else the one expansion key of the list the acronym spells
    (``initials_match``). Two candidates: no pair. Expansions are indexed by the initials of
    their words, so each acronym is checked against the few names it could spell, never
    against the whole list."""
    names = list(dict.fromkeys(names))
    defined: dict[str, set[str]] = {}
    by_signature: dict[str, list[tuple[str, str]]] = {}
    for name in names:
        pair = pairs_in_surface(name)
        # As in text, the long form begins with the acronym's first letter: a name that
        # glosses an acronym with words in front ("linear Fukunaga-Koontz Transform (FKT)")
        # is a mention, not a definition.
        for a, e in pair_keys([pair] if pair and pair[1][:1].lower() == pair[0][:1].lower() else []):
            defined.setdefault(a, set()).add(e)
        bracketed = split_bracketed(name)
        long = bracketed[0] if bracketed else name  # "digital signal processor (DSP)" spells with its words
        found = [w.lower() for w in _NAME_WORD.findall(unescape_brackets(long))]
        if 2 <= len(found) <= 22 and not is_acronym_like(name):
            key = normalize_key(name)
            if key:
                by_signature.setdefault(_signature(found), []).append((long, key))
    pairs: dict[str, set[str]] = {}
    for name in names:
        akey = normalize_key(name)
        if not is_acronym_like(name) or not akey or akey in defined:
            continue
        matched = pairs.setdefault(akey, set())
        for signature in _signatures(_acronym_letters(name)):
            for long, key in by_signature.get(signature, ()):
                if len(matched) > 1:
                    break  # two candidates already: no pair, whatever else matches
                if key != akey and key not in matched and initials_match(name, long):
                    matched.add(key)
    found_pairs = {a: (next(iter(keys)), False) for a, keys in pairs.items() if len(keys) == 1}
    return found_pairs | {a: (next(iter(keys)), True) for a, keys in defined.items() if len(keys) == 1}
