"""The normalization key of a concept surface (stage ``key``).

Two surfaces with the same key name the same thing: case, unicode compatibility forms,
accents on Latin letters (``Schrödinger`` = ``Schrodinger``), hyphens and spaces (``long short - term memory`` = ``long short-term memory`` =
``Long Short-Term Memory``), punctuation, a leading article, a trailing bracketed acronym
(``convolutional neural network (CNN)``) and a plural head noun (a small, safe rule set
applied to the last word only, where English puts the head of a noun phrase). Letters
of every script stay in the key: ``α-helix`` and ``β-helix`` are two things.
"""

from __future__ import annotations

import re
import unicodedata

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


def singular(word: str) -> str:
    """The singular of one lower-case English word by safe suffix rules (unknown → unchanged)."""
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


def words(surface: str) -> list[str]:
    """The key's words, in order, before joining: folded, punctuation dropped, a trailing
    bracketed short form and a leading article removed, the last word singular."""
    bracketed = split_bracketed(surface)
    if bracketed and bracketed[0]:
        surface = bracketed[0]
    raw = surface
    folded = strip_latin_accents(fold(unescape_brackets(surface))).replace("'s ", " ").replace("’s ", " ")
    found = _WORD.findall(folded.replace("-", " ").replace("_", " ").replace("/", " "))
    if len(found) > 1 and found[0] in _ARTICLES:
        found = found[1:]
    if found:
        found[-1] = _acronym_plural(raw) or singular(found[-1])
    return found


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
    return frozenset(words(surface))


def digits_of(surface: str) -> tuple[str, ...]:
    """The numbers in a name (``ResNet-50`` vs ``ResNet-101`` must never merge)."""
    return tuple(re.findall(r"\d+", fold(surface)))
