"""Synthetic alias families for measuring the resolver at scale (and its quality on
variants with a known truth): each family is one made-up concept written several ways —
as named, Title Case, plural, hyphenated, with its acronym in brackets, the bare acronym
and its plural, and sometimes a one-letter misspelling (only the embedding stage can
catch that). Passages spelling out ``name (ACR)`` feed the acronym stage. Deterministic
for a seed."""

from __future__ import annotations

import random
from dataclasses import dataclass

_WORDS = """adaptive adversarial attention bayesian boosted causal contrastive convolutional cross dense
deep differentiable discrete dynamic efficient elastic energy ensemble episodic evolutionary factorized federated
gated generative geometric gradient graph hierarchical hybrid implicit incremental inductive interactive invariant
iterative joint kernel latent layered lexical linear local logical manifold markov masked memory meta modular
monotone multiscale multitask neural nonlinear normalized online optimal orthogonal parallel partial periodic
probabilistic progressive quantized random recurrent recursive regularized relational residual robust scalable
semantic sequential shallow sparse spatial spectral stochastic structured supervised symbolic temporal tensor
transductive transfer uniform unsupervised variational weighted""".split()
_HEADS = """network model parser classifier encoder decoder embedding estimator sampler tagger retriever detector
segmenter tokenizer alignment regression clustering inference translation summarization recognition tracking
reconstruction matching ranking search""".split()
_ROLES = ("method", "model", "problem", "dataset", "metric")


@dataclass(frozen=True)
class Family:
    family: int
    type: str
    surfaces: tuple[str, ...]
    passage: str   # a sentence that spells the acronym out


def _plural(word: str) -> str:
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def families(count: int, seed: int = 11) -> list[Family]:
    rng = random.Random(seed)
    used_names: set[str] = set()
    used_acronyms: set[str] = set()
    out: list[Family] = []
    while len(out) < count:
        words = rng.sample(_WORDS, rng.choice((2, 3, 3, 4, 4))) + [rng.choice(_HEADS)]
        name = " ".join(words)
        # Letters only: an acronym is spelt out by its initials (Schwartz–Hearst), and a
        # name whose acronym is taken is drawn again, so each acronym has one expansion.
        acronym = "".join(w[0] for w in words).upper()
        if name in used_names or acronym in used_acronyms or len(acronym) < 3:
            continue
        used_names.add(name)
        used_acronyms.add(acronym)
        plural = " ".join(words[:-1] + [_plural(words[-1])])
        surfaces = [name, name.title(), plural, "-".join(words[:2]) + " " + " ".join(words[2:]),
                    f"{name} ({acronym})", acronym, acronym + "s"]
        if rng.random() < 0.3:
            long = max(words, key=len)
            cut = rng.randrange(1, len(long) - 1)
            surfaces.append(name.replace(long, long[:cut] + long[cut + 1:], 1))
        out.append(Family(len(out), rng.choice(_ROLES), tuple(dict.fromkeys(surfaces)),
                          f"We propose a {name} ({acronym}) for this task."))
    return out


def surfaces_for(count: int, seed: int = 11) -> tuple[list[tuple[str, str, int]], list[str]]:
    """About ``count`` distinct (surface, type, family) triples and the passages that spell
    their acronyms out."""
    rows: list[tuple[str, str, int]] = []
    passages: list[str] = []
    for family in families(max(1, count // 7), seed):
        passages.append(family.passage)
        rows.extend((s, family.type, family.family) for s in family.surfaces)
    return rows, passages
