"""A deterministic OFFLINE stand-in for the Gemini model: not a model, a rule-based tagger.

The offline Gemini emulator (polymath_assets.gemini.emulator) answers every batch request
with this extractor so the whole pipeline can run without network or API keys. Its output
has the shape a real model returns for extraction.prompt.response_schema(): names and types
from simple rules, quotes sliced from the passage, and confidences derived from a hash, so
the same passage always gives the same answer.

It finds candidates in the passage itself, strongest first:

1. terms of the shared lexicon (the synthetic sample corpus is written from it);
2. acronyms with their expansion, ``convolutional neural network ( CNN )`` or ``(CNN)``
   or ``-LRB- CNN -RRB-`` (the expansion is found as Schwartz & Hearst do);
3. noun phrases: a run of modifiers ending in a head noun from a small vocabulary
   (``statistical machine translation system``), typed by that head;
4. capitalized multi-word names and CamelCase tokens (``Penn Treebank``, ``WordNet``);
5. single head words specific enough to stand alone (``parsing``, ``accuracy``);
6. other acronyms, adjective + noun terms (``reflexive pronouns``) and hyphenated technical
   words, typed ``entity``.

It keeps at most MAX_CONCEPTS (the prompt asks for 4 to 14). Quotes are slices of the
passage, a few detokenized as a model would write them (see _as_model_writes). Gate results on real text
only say something about a real model; this exists so that the plumbing can be tested.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from polymath_assets.corpus.lexicon import all_terms
from polymath_assets.extraction import compact
from polymath_assets.extraction.prompt import passage_from_prompt, repair_items_from_prompt

MAX_QUOTES = 2
MAX_CONCEPTS = 12
MAX_MODIFIERS = 4
LEXICON_CONFIDENCE = (0.72, 0.98)
ACRONYM_CONFIDENCE = (0.55, 0.70)
# Confidence bounds per rule tier (index = tier); lexicon and stand-alone acronyms keep
# the bounds they always had.
_TIER_CONFIDENCE = (LEXICON_CONFIDENCE, (0.80, 0.95), (0.70, 0.92), (0.62, 0.80), (0.60, 0.78),
                    ACRONYM_CONFIDENCE, (0.55, 0.70), (0.55, 0.68))
LEXICON, EXPANSION, PHRASE, NAME, HEAD, ACRONYM, TERM, HYPHENATED = range(8)
_ADJECTIVE = re.compile(r"[a-z-]{3,}(?:al|ic|ive|ous|ar|ent|ant|ible|able|ed)")

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
# An acronym in parentheses, plain or tokenized as in Penn Treebank text.
_PARENTHESISED = re.compile(
    r"(?:\(|-LRB-)\s*([A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)?s?)\s*(?:\)|-RRB-)")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:['’-][A-Za-z0-9]+)*")
_NEXT_WORD = re.compile(r"\s+[\w-]+")
_NOT_ACRONYMS = {"AND", "OR", "THE", "OF", "IN", "FOR", "TO", "WE", "ON", "AT", "BY", "IS", "LRB", "RRB", "LSB",
                 "RSB", "LCB", "RCB", "II", "III", "IV"}

# Head nouns and the concept type they give a phrase. Plurals are found by _singular().
_HEADS: dict[str, str] = {}
for _kind, _words in {
    "method": "method approach algorithm technique framework procedure strategy scheme heuristic formalism "
              "representation feature architecture paradigm mechanism regression sampling learning analysis "
              "search training estimation optimization optimisation inference clustering decoding smoothing "
              "embedding kernel function criterion rule conversion implementation",
    "model": "model network classifier parser tagger decoder encoder grammar system transformer tracker "
             "recognizer recogniser automaton automata machine engine architecture processor",
    "problem": "task problem recognition detection translation segmentation classification retrieval "
               "summarization summarisation generation extraction understanding tagging resolution "
               "disambiguation prediction identification alignment labeling labelling parsing tracking matching "
               "annotation reconstruction acquisition modeling modelling answering localization localisation "
               "re-identification correction induction categorization enhancement synthesis verification evaluation",
    "dataset": "dataset corpus corpora treebank benchmark database collection lexicon dictionary ontology",
    "metric": "metric score accuracy precision recall error rate measure f-measure f-score perplexity "
              "bleu cost complexity robustness",
    "domain": "processing vision linguistics science domain intelligence",
}.items():
    for _word in _words.split():
        _HEADS.setdefault(_word, _kind)
# Heads that name a concept on their own; the others ("model", "system") need a modifier.
_SPECIFIC_HEADS = set(
    "recognition detection translation segmentation classification retrieval summarization generation "
    "extraction tagging disambiguation parsing tracking annotation reconstruction clustering regression "
    "accuracy precision recall perplexity treebank ontology linguistics re-identification".split())
# Words that never start or sit inside a technical noun phrase.
_STOP = set("""
a an the this that these those its their our your his her my we they it he she i you one two three four
five several many much more most some any all each every both either neither no not other others such same
own new novel proposed existing previous prior current recent given various different first second third
last final main basic simple standard general common typical traditional conventional certain further
additional particular whole entire good better best high higher low lower large larger small smaller
well also only just very so thus hence then there here where when which who whom whose what how why
and or but nor of in on at by for with from to into onto over under about as than via per between
among against within without through during after before upon is are was were be been being am has have had
do does did can could may might must shall should will would use used using based show shows shown present
presents presented propose proposes describe describes described introduce introduces introduced apply
applied applies give gives obtain obtained obtains achieve achieves achieved make makes made take takes
call called find found yield yields provide provides provided allow allows allowed require requires
required perform performs performed improve improves improved learn learns learned
paper work study results result approach while whereas although though because since if unless until
whether even yet still rather however therefore moreover furthermore conduct conducts investigate investigates
develop develops evaluate evaluates compare compares employ employs exploit exploits explore explores address
addresses solve solves extend extends combine combines integrate integrates implement implements reduce
reduces increase increases enable enables generate generates produce produces construct constructs build
builds define defines design designs consider considers focus focuses demonstrate demonstrates report
reports discuss discusses examine examines analyze analyzes argue argues suggest suggests adopt adopts
leverage leverages incorporate incorporates capture captures outperform outperforms test tests train trains
""".split())
# Hyphenated words that are ordinary English, not technical terms.
_COMMON_HYPHENATED = set("""state-of-the-art well-known so-called real-time large-scale small-scale high-quality
low-quality long-term short-term wide-coverage broad-coverage fine-grained coarse-grained end-to-end
hand-crafted hand-coded high-level low-level top-down bottom-up two-step multi-step one-to-one
""".split())
# Acronyms whose type is clear without an expansion.
_KNOWN_ACRONYMS = {
    **dict.fromkeys("BLEU NIST ROUGE METEOR WER TER AUC MAP MRR".split(), "metric"),
    **dict.fromkeys("HMM HMMs CRF CRFs SVM SVMs LSTM RNN CNN MLP".split(), "model"),
    **dict.fromkeys("PCA LDA EM SMT NMT MT NLP NER ASR OCR".split(), "method"),
}


def _unit(*parts: str) -> float:
    """A number in [0, 1) fixed by the parts: the source of all 'randomness' here."""
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _confidence(name: str, passage: str, bounds: tuple[float, float]) -> float:
    low, high = bounds
    return round(low + (high - low) * _unit("confidence", name, passage), 3)


def _quote(passage: str, start: int, end: int, name: str) -> str:
    """The matched text, sometimes with the next word too, as a model's quotes often are."""
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


# Penn Treebank tokenization as a model undoes it when it copies a quote: "( CNN )" -> "(CNN)".
_DETOKENIZE = ((re.compile(r"-LRB-\s*"), "("), (re.compile(r"\s*-RRB-"), ")"), (re.compile(r"\(\s+"), "("),
               (re.compile(r"\s+\)"), ")"), (re.compile(r"(?<=\w) - (?=\w)"), "-"),
               (re.compile(r"\s+(?=[,.;:]|'s\b|n't\b)"), ""))
DETOKENIZED_SHARE = 0.25  # of quotes that hold tokenized punctuation


def _as_model_writes(quote: str, name: str, passage: str, start: int) -> str:
    """Sometimes, deterministically, the quote detokenized as a model would write it; such
    quotes are not verbatim and exercise the aligner's fuzzy pass on real (tokenized) text."""
    detokenized = quote
    for pattern, replacement in _DETOKENIZE:
        detokenized = pattern.sub(replacement, detokenized)
    if detokenized != quote and _unit("detokenize", name, passage, str(start)) < DETOKENIZED_SHARE:
        return detokenized
    return quote


@dataclass
class _Candidate:
    key: str
    name: str
    type: str
    tier: int
    position: int
    aliases: list[str] = field(default_factory=list)
    quotes: list[str] = field(default_factory=list)
    written: tuple[int, int] = (0, 0)  # where the name is first written in the passage (compact answers)

    def as_concept(self, passage: str) -> dict:
        return {"name": self.name, "type": self.type, "aliases": self.aliases,
                "confidence": _confidence(self.name, passage, _TIER_CONFIDENCE[self.tier]), "quotes": self.quotes}

    def as_span(self, passage: str) -> tuple[str, str, str | None, str | None]:
        """(span, type, expansion, hint) as the compact format asks: the name copied as written
        (line breaks collapsed, sometimes detokenized as a model writes it); an acronym that
        the passage spells out with that expansion; a short quote when the span is written
        earlier too and this occurrence is meant."""
        start, end = self.written
        text = _as_model_writes(" ".join(passage[start:end].split()), self.name, passage, start)
        acronym = next((a for a in self.aliases if a.isupper() or sum(c.isupper() for c in a) >= 2), None)
        if acronym:
            return acronym, self.type, text, None
        earlier = re.search(rf"(?<!\w){re.escape(text)}(?!\w)", passage[:start])
        following = _NEXT_WORD.match(passage, end)
        hint = " ".join(passage[start:following.end() if following else end].split()) if earlier else None
        return text, self.type, None, hint


class _Found:
    """Candidates by lower-cased name, and the passage spans already claimed by one."""

    def __init__(self, passage: str):
        self.passage = passage
        self.by_key: dict[str, _Candidate] = {}
        self.spans: list[tuple[int, int]] = []

    def free(self, start: int, end: int) -> bool:
        return not any(s < end and start < e for s, e in self.spans)

    def add(self, name: str, kind: str, tier: int, start: int, end: int, quote: str | None = None,
            alias: str | None = None, written: tuple[int, int] | None = None) -> None:
        key = name.lower()
        candidate = self.by_key.get(key) or self.by_key.setdefault(
            key, _Candidate(key, name, kind, tier, start, written=written or (start, end)))
        if alias and alias not in candidate.aliases:
            candidate.aliases.append(alias)
        text = quote if quote is not None else _as_model_writes(self.passage[start:end], name, self.passage, start)
        if len(candidate.quotes) < MAX_QUOTES and text not in candidate.quotes:
            candidate.quotes.append(text)
        self.spans.append((start, end))


def _words(passage: str) -> list[re.Match]:
    return list(_WORD.finditer(passage))


def _adjacent(passage: str, left: re.Match, right: re.Match) -> bool:
    """Only spaces between two words (a line break or punctuation ends a phrase)."""
    gap = passage[left.end():right.start()]
    return bool(gap) and gap.strip(" ") == ""


def _singular(word: str) -> str:
    low = word.lower()
    if low in _HEADS:
        return low
    for suffix, replacement in (("ies", "y"), ("ses", "s"), ("es", ""), ("s", "")):
        if low.endswith(suffix) and low[: -len(suffix)] + replacement in _HEADS:
            return low[: -len(suffix)] + replacement
    return low


def _head_type(word: str) -> str | None:
    return _HEADS.get(_singular(word))


def _sentence_start(passage: str, start: int) -> bool:
    before = passage[:start].rstrip()
    return not before or before[-1] in ".!?:;\n"


def _display(passage: str, words: list[re.Match]) -> str:
    """The phrase as a name: single spaces, a sentence-initial capital lowered, tokenized
    hyphens (``ResNet - 101``) closed up."""
    tokens = [w.group(0) for w in words]
    first = tokens[0]
    if first[:1].isupper() and first[1:].islower() and _sentence_start(passage, words[0].start()):
        tokens[0] = first.lower()
    return re.sub(r"\s+-\s+", "-", " ".join(tokens))


def _is_modifier(word: str) -> bool:
    low = word.lower()
    return (low not in _STOP and not low.endswith("ly") and not word.isupper() or len(word) > 1 and word.isupper()
            and word not in _NOT_ACRONYMS) and not word[0].isdigit() and low not in _COMMON_HYPHENATED


# --- the rules, strongest first ------------------------------------------------------------

def _lexicon(found: _Found) -> None:
    passage = found.passage
    for match in _TERMS.finditer(passage):
        name, kind = _CANONICAL[match.group(0).lower()]
        end = match.end()
        alias = _ALIAS_AFTER.match(passage, end)
        found.add(name, kind, LEXICON, match.start(), alias.end() if alias else end,
                  quote=_quote(passage, match.start(), match.end(), name), alias=alias and alias.group(1),
                  written=(match.start(), match.end()))


def _long_form(short: str, words: list[re.Match], passage: str) -> int | None:
    """Index into ``words`` where the expansion of ``short`` starts (Schwartz & Hearst 2003),
    or None. ``words`` are the adjacent words right before the parenthesis."""
    letters = [c.lower() for c in short if c.isalnum()]
    if len(letters) < 2 or not words:
        return None
    window = words[-min(len(letters) + 5, 2 * len(letters)):]
    text = passage[window[0].start():window[-1].end()]
    s, i = len(letters) - 1, len(text) - 1
    while s >= 0:
        while i >= 0 and (text[i].lower() != letters[s] or (s == 0 and i > 0 and text[i - 1].isalnum())):
            i -= 1
        if i < 0:
            return None
        i -= 1
        s -= 1
    start = window[0].start() + i + 1
    for index, word in enumerate(window):
        if word.start() <= start < word.end() + 1:
            first = len(words) - len(window) + index
            return first if start == word.start() else None
    return None


def _expansions(found: _Found, words: list[re.Match]) -> set[str]:
    passage = found.passage
    defined = set()
    for paren in _PARENTHESISED.finditer(passage):
        short = paren.group(1)
        if sum(c.isupper() for c in short) < 2 or short in _NOT_ACRONYMS:
            continue
        before = [w for w in words if w.end() <= paren.start()]
        run: list[re.Match] = []
        for word in reversed(before):
            if run and not _adjacent(passage, word, run[0]) or word.group(0).lower() in _STOP and run:
                break
            if passage[word.end():paren.start() if not run else run[0].start()].strip():
                break  # punctuation between the word and the parenthesis
            run.insert(0, word)
        first = _long_form(short, run, passage)
        if first is None or not found.free(run[first].start(), paren.end()):
            continue
        phrase = run[first:]
        name = _display(passage, phrase)
        kind = _head_type(phrase[-1].group(0)) or _KNOWN_ACRONYMS.get(short.rstrip("s"), "entity")
        found.add(name, kind, EXPANSION, phrase[0].start(), paren.end(), alias=short,
                  written=(phrase[0].start(), phrase[-1].end()))
        defined.add(short)
        for later in re.finditer(rf"(?<![\w-]){re.escape(short)}(?![\w-])", passage[paren.end():]):
            at = paren.end() + later.start()
            found.add(name, kind, EXPANSION, at, at + len(short))
    return defined


def _trim(phrase: list[re.Match]) -> list[re.Match]:
    """Drop leading gerunds ("reducing computational cost") unless the word is itself a
    head noun ("learning", "parsing")."""
    while len(phrase) > 1:
        low = phrase[0].group(0).lower()
        if not low.endswith("ing") or low in _HEADS:
            break
        phrase = phrase[1:]
    return phrase


def _phrases(found: _Found, words: list[re.Match]) -> None:
    """Modifier runs ending in a head noun, right to left so that the longest phrase
    ("machine translation evaluation measures") claims its words first."""
    passage = found.passage
    for index in range(len(words) - 1, -1, -1):
        head = words[index]
        kind = _head_type(head.group(0))
        if kind is None or not head.group(0)[0].islower():
            continue
        following = words[index + 1] if index + 1 < len(words) else None
        if following and _adjacent(passage, head, following) and _head_type(following.group(0)):
            continue  # "translation system": the phrase goes on
        first = index
        while (first > 0 and index - first < MAX_MODIFIERS and _adjacent(passage, words[first - 1], words[first])
               and _is_modifier(words[first - 1].group(0))):
            first -= 1
        phrase = _trim(words[first:index + 1])
        if len(phrase) == 1:
            continue
        if found.free(phrase[0].start(), head.end()):
            found.add(_display(passage, phrase), kind, PHRASE, phrase[0].start(), head.end())


def _names(found: _Found, words: list[re.Match]) -> None:
    """Capitalized runs of two or more words, and CamelCase tokens."""
    passage = found.passage
    run: list[re.Match] = []

    def flush() -> None:
        while run and run[0].group(0).lower() in _STOP:
            run.pop(0)
        if len(run) >= 2 and found.free(run[0].start(), run[-1].end()):
            kind = _head_type(run[-1].group(0)) or "entity"
            found.add(" ".join(w.group(0) for w in run), kind, NAME, run[0].start(), run[-1].end())
        run.clear()

    for word in words:
        text = word.group(0)
        capital = text[0].isupper() and not text.isupper() and text not in _NOT_ACRONYMS
        if capital and (not run or _adjacent(passage, run[-1], word)):
            run.append(word)
            continue
        flush()
        if capital:
            run.append(word)
    flush()
    for word in words:
        text = word.group(0)
        camel = text[0].isupper() and any(c.isupper() for c in text[1:]) and any(c.islower() for c in text)
        if camel and found.free(word.start(), word.end()):
            found.add(text, _KNOWN_ACRONYMS.get(text, "entity"), NAME, word.start(), word.end())


def _single_heads(found: _Found, words: list[re.Match]) -> None:
    for word in words:
        text = word.group(0)
        if _singular(text) in _SPECIFIC_HEADS and text.islower() and found.free(word.start(), word.end()):
            found.add(text, _HEADS[_singular(text)], HEAD, word.start(), word.end())


def _acronyms(found: _Found, known: set[str]) -> None:
    for match in _ACRONYM.finditer(found.passage):
        token = match.group(0)
        if token in _NOT_ACRONYMS or token.lower() in known or not found.free(match.start(), match.end()):
            continue
        found.add(token, _KNOWN_ACRONYMS.get(token, "entity"), ACRONYM, match.start(), match.end())


def _terms(found: _Found, words: list[re.Match]) -> None:
    """Adjective + noun ("reflexive pronouns", "grammatical gender"): the scientific terms
    a model lists when a passage names few methods or tasks."""
    passage = found.passage
    for index, word in enumerate(words[:-1]):
        if not _ADJECTIVE.fullmatch(word.group(0)) or word.group(0) in _STOP:
            continue
        phrase = [word]
        for following in words[index + 1:index + 4]:
            text = following.group(0)
            if not (_adjacent(passage, phrase[-1], following) and text.islower() and _is_modifier(text)
                    and not text.endswith("ing")):
                break
            phrase.append(following)
        if len(phrase) >= 2 and not _ADJECTIVE.fullmatch(phrase[-1].group(0)) \
                and found.free(phrase[0].start(), phrase[-1].end()):
            found.add(_display(passage, phrase), "entity", TERM, phrase[0].start(), phrase[-1].end())


def _hyphenated(found: _Found, words: list[re.Match]) -> None:
    for word in words:
        text = word.group(0)
        if ("-" in text and text.islower() and len(text) >= 6 and text not in _COMMON_HYPHENATED
                and found.free(word.start(), word.end())):
            found.add(text, "entity", HYPHENATED, word.start(), word.end())


def _candidates(passage_text: str) -> list[_Candidate]:
    """Every candidate, strongest first. The rules run strongest first and a later rule
    never claims text an earlier one took."""
    found = _Found(passage_text)
    words = _words(passage_text)
    _lexicon(found)
    aliases = {alias.lower() for c in found.by_key.values() for alias in c.aliases}
    defined = _expansions(found, words)
    _phrases(found, words)
    _names(found, words)
    _single_heads(found, words)
    _acronyms(found, aliases | set(_CANONICAL) | {d.lower() for d in defined})
    _terms(found, words)
    _hyphenated(found, words)
    return sorted(found.by_key.values(), key=lambda c: (c.tier, -len(c.quotes), c.position))


def _chosen(passage_text: str) -> list[_Candidate]:
    """Of more than MAX_CONCEPTS candidates the strongest, in passage order."""
    return sorted(_candidates(passage_text)[:MAX_CONCEPTS], key=lambda c: c.position)


def extract(passage_text: str) -> dict:
    """Concepts in the passage, valid against extraction.prompt.response_schema()."""
    return {"concepts": [c.as_concept(passage_text) for c in _chosen(passage_text)]}


def extract_spans(passage_text: str) -> dict:
    """The same concepts in the compact format (extraction.compact.response_schema())."""
    return compact.render([c.as_span(passage_text) for c in _chosen(passage_text)])


def _word_set(text: str) -> set[str]:
    return {w.group(0).lower() for w in _WORD.finditer(text)}


def _repaired(passage_text: str, items: list[dict]) -> list[_Candidate]:
    """For a repair request: the candidate each unlocated item most likely meant (same type,
    at least half the words in common), as a model asked to copy it as written would; an
    item matching none is dropped."""
    found: list[_Candidate] = []
    candidates = _candidates(passage_text)
    for item in items:
        words = _word_set(str(item.get("text", "")))
        best, score = None, 0.5
        for candidate in candidates:
            if candidate.type != item.get("type"):
                continue
            names = _word_set(candidate.name) | {w for alias in candidate.aliases for w in _word_set(alias)}
            overlap = len(words & names) / len(words | names) if words | names else 0.0
            if overlap >= score and candidate not in found:
                best, score = candidate, overlap
        if best is not None:
            found.append(best)
    return sorted(found, key=lambda c: c.position)


def unlocatable(passage: str, text: str) -> str:
    """``text`` rewritten so that it cannot be located in ``passage``: its words reversed and
    a word added, as a paraphrasing model might (the unlocatable_share fault)."""
    from polymath_assets.extraction.evidence import align_quote

    words = text.split()
    rewritten = " ".join(reversed(words)) + " variant"
    while align_quote(passage, rewritten).start is not None:
        rewritten += " variant"
    return rewritten


def _corrupt(document: dict, passage: str, is_compact: bool, corrupted) -> dict:
    """Make some concepts unlocatable: ``corrupted(i)`` says which (i counts concepts)."""
    if not is_compact:
        for i, concept in enumerate(document["concepts"]):
            if corrupted(i):
                concept["quotes"] = [unlocatable(passage, q) for q in concept["quotes"]]
        return document
    i = 0
    expansions = {e["s"] for e in document.get(compact.EXPANSIONS, [])}
    for key, spans in document.items():
        if key in (compact.EXPANSIONS, compact.HINTS):
            continue
        for j, span in enumerate(spans):
            if corrupted(i) and span not in expansions:
                spans[j] = unlocatable(passage, span)
            i += 1
    return document


def _get(mapping: dict, camel: str, snake: str):
    return mapping.get(camel, mapping.get(snake))


def _texts(content: dict | None) -> list[str]:
    parts = (content or {}).get("parts") or []
    return [part["text"] for part in parts if isinstance(part, dict) and part.get("text")]


def asks_compact(request: dict) -> bool:
    """Whether the request asks for the compact format: its response schema has no
    ``concepts`` array (extraction.compact.response_schema)."""
    generation = _get(request, "generationConfig", "generation_config") or {}
    schema = _get(generation, "responseSchema", "response_schema") or {}
    return bool(schema) and "concepts" not in (schema.get("properties") or {})


def answer(request: dict, corrupted=None) -> tuple[str, dict]:
    """(response text, usageMetadata) for one GenerateContentRequest dict, in the answer
    format its response schema asks for.

    The passage is the one user_prompt() embedded; a prompt without the markers is
    treated as the passage itself. A repair request (its prompt lists unlocated items)
    gets those items copied as written, or dropped. ``corrupted(i)``: whether the i-th
    concept comes back unlocatable (the emulator's unlocatable_share fault; never in a
    repair answer). Token counts are the usual ~4 characters per token.
    """
    user_texts = [text for content in request.get("contents") or [] for text in _texts(content)]
    system_texts = _texts(_get(request, "systemInstruction", "system_instruction"))
    prompt = "\n".join(user_texts)
    passage = next(filter(None, map(passage_from_prompt, user_texts)), None)
    passage = prompt if passage is None else passage
    is_compact = asks_compact(request)
    items = next(filter(None, map(repair_items_from_prompt, user_texts)), None)
    if items is not None:
        chosen = _repaired(passage, items)
        document = (compact.render([c.as_span(passage) for c in chosen]) if is_compact
                    else {"concepts": [c.as_concept(passage) for c in chosen]})
    else:
        document = extract_spans(passage) if is_compact else extract(passage)
        if corrupted is not None:
            document = _corrupt(document, passage, is_compact, corrupted)
    text = json.dumps(document, ensure_ascii=False)
    prompt_tokens = max(1, len("\n".join(system_texts + user_texts)) // 4)
    output_tokens = max(1, len(text) // 4)
    usage = {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": output_tokens,
        "totalTokenCount": prompt_tokens + output_tokens,
    }
    return text, usage
