"""Which surfaces may share a canonical concept: type compatibility, the guards of the
embedding stage, and the chaining guard (every member close to its cluster's centre)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from polymath_assets.concepts.normalize import (
    content_words,
    digits_of,
    is_acronym_like,
    normalize_key,
    unescape_brackets,
    words,
)


@dataclass(frozen=True)
class TypeRules:
    """Types are compared case-insensitively; two different types may share a concept only
    when the pair is listed (POLYMATH_CONCEPT_TYPE_PAIRS, e.g. ``method=model``)."""

    pairs: frozenset[frozenset[str]] = frozenset()

    @classmethod
    def parse(cls, text: str) -> "TypeRules":
        pairs = set()
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            left, sep, right = item.partition("=")
            if not sep or not left.strip() or not right.strip():
                raise ValueError(f"type pair {item!r}: expected TYPE=TYPE, e.g. method=model")
            pairs.add(frozenset({left.strip().lower(), right.strip().lower()}))
        return cls(frozenset(pairs))

    def compatible(self, a: str, b: str) -> bool:
        a, b = a.lower(), b.lower()
        return a == b or frozenset({a, b}) in self.pairs

    def text(self) -> str:
        return ",".join(sorted("=".join(sorted(p)) for p in self.pairs))


def embedding_merge_allowed(a: str, b: str) -> bool:
    """Names an embedding neighbour may merge: neither is a bare acronym (short forms are
    resolved by the acronym stage; their vectors say little), their numbers agree
    (``ResNet-50`` ≠ ``ResNet-101``), and neither is the other plus words: a word in front
    narrows it (``machine translation`` ≠ ``statistical machine translation``), a noun
    after it names a thing made for it (``machine translation system``); the one case
    where a head noun adds nothing, a name with a generic head (``CRF model``), is the
    head stage's."""
    if is_acronym_like(a) or is_acronym_like(b):
        return False
    if digits_of(a) != digits_of(b):
        return False
    wa, wb = content_words(a), content_words(b)
    return wa == wb or not (wa <= wb or wb <= wa)


def is_name(token: str) -> bool:
    """A name rather than a word: one token beginning with a letter, with at least two
    letters, and an upper-case letter after the first character or a digit (``CRF``,
    ``ELMo``, ``word2vec``, ``GPT-2``; not ``Transformer``, ``translation`` nor ``3D``)."""
    return (" " not in token and token[:1].isalpha() and sum(c.isalpha() for c in token) >= 2
            and (any(c.isupper() for c in token[1:]) or any(c.isdigit() for c in token)))


_SPACED_HYPHEN = re.compile(r"\s*-\s*")


def head_stem(surface: str, head_nouns: frozenset[str]) -> str | None:
    """The stage-``head`` rule: ``NAME HEAD`` → the key of NAME, when HEAD is one of the
    generic head nouns and NAME a name (``is_name``): ``ELMo embeddings`` → ``elmo``,
    ``CRF model`` → ``crf``, ``Bi - LSTM network`` → ``bilstm``. A phrase of words
    (``translation model``, ``Transformer architecture``) keeps its head: there the head
    says what kind of thing the words describe, and the embedding stage judges it."""
    parts = _SPACED_HYPHEN.sub("-", " ".join(unescape_brackets(surface).split())).split(" ")
    if len(parts) != 2 or not is_name(parts[0]) or normalize_key(parts[1]) not in head_nouns:
        return None
    return normalize_key(parts[0]) or None


_PROCESS_ENDINGS = ("tion", "sion", "ing", "ment", "ance", "ence", "sis")


def names_a_process(expansion: str) -> bool:
    """Whether an expansion names a task or a process (``word sense disambiguation``,
    ``machine translation``, ``natural language processing``): ``WSD models`` and ``MT
    architecture`` are things made for it, not it, so the head stage leaves them apart."""
    found = words(expansion)
    last = found[-1] if found else ""
    return last.endswith(_PROCESS_ENDINGS) or last in ("retrieval", "removal")


def chain_violations(members: np.ndarray, centre: np.ndarray, threshold: float) -> list[int]:
    """Indexes of member vectors (unit rows) whose cosine to the centre is below the
    threshold: a cluster grown through a chain of neighbours, each close only to the last."""
    if len(members) == 0:
        return []
    scores = members @ centre
    return [int(i) for i in np.flatnonzero(scores < threshold - 1e-6)]


def leader_clusters(vectors: np.ndarray, names: list[str], types: list[str], rules: TypeRules,
                    threshold: float) -> list[int]:
    """Greedy leader clustering of one bounded chunk (unit rows): each item joins the most
    similar earlier *leader* it may merge with, or leads its own cluster. Membership is
    judged against the leader only, never through another member, so no chain can form.
    Returns, for each item, the index of its leader (itself for a leader)."""
    leaders: list[int] = []
    assignment: list[int] = []
    for i in range(len(names)):
        best, best_score = i, threshold
        if leaders:
            scores = vectors[leaders] @ vectors[i]
            for rank in np.argsort(-scores):
                if scores[rank] < best_score:
                    break
                j = leaders[rank]
                if rules.compatible(types[i], types[j]) and embedding_merge_allowed(names[i], names[j]):
                    best = j
                    break
        if best == i:
            leaders.append(i)
        assignment.append(best)
    return assignment
