"""The normalization key of a concept surface, and the variant rules it is built from.

Two surfaces with the same key name the same thing. The key is built by rules applied in
order (``KEY_STAGES``); a surface that joins a concept through the key records, as its
alias's stage, the last rule it needed to meet a surface already there:

``key``          case, unicode compatibility forms, accents on Latin letters
                 (``Schrödinger`` = ``Schrodinger``), whitespace;
``punctuation``  hyphens, spaces, quotes and tokenized punctuation (``Bi - LSTM`` =
                 ``BiLSTM``, ``long short - term memory`` = ``Long Short-Term Memory``,
                 ``data set`` = ``dataset``);
``article``      a leading article (``the Penn Treebank``);
``bracket``      a trailing bracketed acronym or gloss (``convolutional neural network (CNN)``);
``spelling``     British and American spelling (``normalisation`` = ``normalization``,
                 ``modelling`` = ``modeling``; a word list, see ``spelling``);
``plural``       a plural last word, where English puts the head of a noun phrase (a
                 small, safe rule set), and an acronym's plural ``s`` (``CNNs``).

Letters of every script stay in the key: ``α-helix`` and ``β-helix`` are two things.
"""

from __future__ import annotations

import re
import unicodedata

from polymath_assets.concepts.spelling import american

_BRACKETED = re.compile(r"^(?P<long>.*?\S)\s*\(\s*(?P<short>[^()]{1,20}?)\s*\)\s*$")
# Letters and digits of any script (``[^\W_]``), and + and # for C++ and C#.
_WORD = re.compile(r"(?:[^\W_]|[+#])+")
_ARTICLES = frozenset({"the", "a", "an"})
# Words whose final s is not a plural (or whose singular the rules below would get wrong).
_NOT_PLURAL = frozenset({"series", "species", "news", "physics", "mathematics", "linguistics", "statistics",
                         "analysis", "basis", "thesis", "corpus", "bus", "gas", "lens", "bias", "atlas",
                         "chaos", "process", "class", "less", "loss", "mass", "glass", "cross", "pass",
                         "does", "is", "was", "has", "this", "its", "us", "yes", "always", "towards"})


_PTB_BRACKETS = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}
_PTB = re.compile("|".join(map(re.escape, _PTB_BRACKETS)))


def unescape_brackets(text: str) -> str:
    """Penn-Treebank bracket tokens (``-LRB- LSTM -RRB-``, as in tokenized corpora) as brackets."""
    return _PTB.sub(lambda m: _PTB_BRACKETS[m.group(0)], text)


def fold(text: str) -> str:
    """NFKC, case-folded, unicode dashes as '-', whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[\u2010-\u2015\u2212]", "-", text)
    return " ".join(text.split())


# Latin letters with a stroke or without a dot, which have no decomposition to strip.
_LATIN_VARIANTS = {"ı": "i", "ø": "o", "ł": "l", "đ": "d", "æ": "ae", "œ": "oe"}


def strip_latin_accents(text: str) -> str:
    """``ö`` → ``o``, ``ï`` → ``i``, ``ø`` → ``o``: a Latin letter with accents is the
    letter. Other scripts are left alone (``ά`` stays; Greek letters are not Latin ones)."""
    if text.isascii():
        return text
    out = []
    for ch in text:
        if not ch.isascii():
            base = unicodedata.normalize("NFKD", ch)
            if len(base) > 1 and base[0].isascii() and base[0].isalpha() \
                    and all(unicodedata.combining(c) for c in base[1:]):
                ch = base[0]
            else:
                ch = _LATIN_VARIANTS.get(ch, ch)
        out.append(ch)
    return "".join(out)


def split_bracketed(surface: str) -> tuple[str, str] | None:
    """``convolutional neural network (CNN)`` → (``convolutional neural network``, ``CNN``);
    None when the surface does not end in a bracketed short form."""
    match = _BRACKETED.match(" ".join(unescape_brackets(surface).split()))
    if not match:
        return None
    return match.group("long").strip(), match.group("short").strip()


# Plurals the suffix rules would get wrong (``hypotheses`` is not ``hypothese``).
_IRREGULAR = {"hypotheses": "hypothesis", "analyses": "analysis", "syntheses": "synthesis", "theses": "thesis",
              "diagnoses": "diagnosis", "parentheses": "parenthesis", "crises": "crisis", "ellipses": "ellipsis",
              "matrices": "matrix", "indices": "index", "vertices": "vertex", "appendices": "appendix",
              "criteria": "criterion", "phenomena": "phenomenon", "corpora": "corpus", "schemata": "schema",
              "formulae": "formula", "lemmata": "lemma", "stimuli": "stimulus", "nuclei": "nucleus",
              "radii": "radius", "foci": "focus", "loci": "locus", "children": "child", "men": "man",
              "women": "woman", "people": "person", "mice": "mouse", "feet": "foot", "teeth": "tooth"}


def singular(word: str) -> str:
    """The singular of one lower-case English word by safe suffix rules and a list of
    irregular plurals (unknown → unchanged)."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) <= 3 or word in _NOT_PLURAL or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes", "zzes")):
        return word[:-2]
    if word.endswith(("ss", "us", "is", "ics")):
        return word
    if word.endswith("s"):
        return word[:-1]
    return word


KEY_STAGES = ("key", "punctuation", "article", "bracket", "spelling", "plural")


def _folded(text: str) -> str:
    return strip_latin_accents(fold(unescape_brackets(text)))


def _all_tokens(folded: str) -> list[str]:
    return _WORD.findall(folded.replace("'s ", " ").replace("’s ", " ").replace("_", " "))


def _tokens(folded: str) -> list[str]:
    found = _all_tokens(folded)
    return found[1:] if len(found) > 1 and found[0] in _ARTICLES else found


def _build(surface: str, levels: list[str] | None) -> list[str]:
    """The key's words; ``levels`` (when given) receives the key after each of KEY_STAGES."""
    folded = _folded(surface)
    if levels is not None:
        levels.append(folded)
        levels.append("".join(_all_tokens(folded)))
    raw = surface
    bracketed = split_bracketed(surface)
    if bracketed and bracketed[0]:
        raw = bracketed[0]
        if levels is not None:
            levels.append("".join(_tokens(folded)))
        found = _tokens(_folded(raw))
    else:
        found = _tokens(folded)
        if levels is not None:
            levels.append("".join(found))
    if levels is not None:
        levels.append("".join(found))
    found = [american(w) for w in found]
    if levels is not None:
        levels.append("".join(found))
    if found:
        found[-1] = _acronym_plural(raw) or singular(found[-1])
    if levels is not None:
        levels.append("".join(found))
    return found


def words(surface: str) -> list[str]:
    """The key's words, in order, before joining: folded, punctuation dropped, a leading
    article and a trailing bracketed short form removed, American spelling, the last word
    singular."""
    return _build(surface, None)


def key_levels(surface: str) -> tuple[str, ...]:
    """The key after each rule of ``KEY_STAGES``, applied cumulatively (the last is
    ``normalize_key``)."""
    levels: list[str] = []
    _build(surface, levels)
    return tuple(levels)


def variant_stages(names: list[str], anchors: list[str] = ()) -> list[str]:
    """For names that share a key, the rule each needed to meet another of them or an
    anchor (a surface already in the concept): the first of ``KEY_STAGES`` at which its
    key equals theirs. A name equal to no other is ``new`` (it founds the concept)."""
    if len(names) == 1 and not anchors:
        return ["new"]  # most groups: one name, nothing to compare
    all_levels = [key_levels(n) for n in names]
    counts: list[dict[str, int]] = [{} for _ in KEY_STAGES]
    for levels in all_levels + [key_levels(a) for a in anchors]:
        for i, k in enumerate(levels):
            counts[i][k] = counts[i].get(k, 0) + 1
    out = []
    for levels in all_levels:
        out.append(next((stage for i, stage in enumerate(KEY_STAGES) if counts[i][levels[i]] > 1), "new"))
    return out


def _acronym_plural(raw: str) -> str | None:
    """``CNNs`` → ``cnn``: an upper-case acronym with a lower-case plural s."""
    last = raw.split()[-1] if raw.split() else ""
    if re.fullmatch(r"[A-Z][A-Z0-9\-]*[A-Z0-9]s", last):
        return re.sub(r"[^0-9a-z+#]", "", last[:-1].lower())
    return None


def normalize_key(surface: str) -> str:
    """The stage-``key`` identity: words joined without spaces, so spacing and hyphenation
    variants (``data set`` / ``dataset``, ``ResNet - 101`` / ``ResNet101``) meet. Empty
    when the surface holds no letter or digit."""
    return "".join(words(surface))


def surface_key(surface: str) -> str:
    """The key the resolver groups a surface by and stores as its alias's ``norm_key``:
    the normalization key, or for a surface without a letter or digit the surface itself,
    stripped and lower-cased (``???`` and ``!!!`` must not become one concept)."""
    return normalize_key(surface) or surface.strip().lower()


def is_acronym_like(surface: str) -> bool:
    """A short form: one token of 2–10 characters with at least two upper-case letters
    (``CNN``, ``LSTMs``, ``BiLSTM``, ``word2vec`` is not one)."""
    text = surface.strip()
    if not 2 <= len(text) <= 10 or " " in text:
        return False
    return sum(ch.isupper() for ch in text) >= 2 and text[0].isalpha()


def content_words(surface: str) -> frozenset[str]:
    """The key's words, each singular (``Isomorphic Grammars approach`` holds ``grammar``)."""
    return frozenset(singular(w) for w in words(surface))


def digits_of(surface: str) -> tuple[str, ...]:
    """The numbers in a name (``ResNet-50`` vs ``ResNet-101`` must never merge)."""
    return tuple(re.findall(r"\d+", fold(surface)))
