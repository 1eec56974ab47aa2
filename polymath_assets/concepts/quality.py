"""Cluster quality against a gold grouping: pairwise and B³ precision / recall / F1.

Both take two mappings item → cluster label over the same items. B³ (Bagga & Baldwin
1998) averages, per item, the overlap of its predicted and gold clusters; pairwise counts
item pairs placed together; ``stage_scores`` counts the pairs one stage of the resolver
joined. Computed from cluster-intersection counts, never all pairs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 0.0 if total == 0 else 2 * self.precision * self.recall / total


def _check(predicted: Mapping, gold: Mapping) -> None:
    if set(predicted) != set(gold):
        missing = set(gold) ^ set(predicted)
        raise ValueError(f"predicted and gold clusterings cover different items ({len(missing)} differ)")


def b_cubed(predicted: Mapping[Hashable, Hashable], gold: Mapping[Hashable, Hashable]) -> Scores:
    _check(predicted, gold)
    if not gold:
        return Scores(1.0, 1.0)
    both = Counter((predicted[i], gold[i]) for i in gold)
    p_size = Counter(predicted.values())
    g_size = Counter(gold.values())
    precision = sum(n * n / p_size[p] for (p, _), n in both.items()) / len(gold)
    recall = sum(n * n / g_size[g] for (_, g), n in both.items()) / len(gold)
    return Scores(precision, recall)


def pairs_together(items: Iterable[Hashable], *clusterings: Mapping[Hashable, Hashable]) -> int:
    """Pairs of ``items`` that share a cluster in every one of ``clusterings``, from the
    sizes of their intersections (never all pairs)."""
    sizes = Counter(tuple(c[i] for c in clusterings) for i in items)
    return sum(n * (n - 1) // 2 for n in sizes.values())


def pairwise(predicted: Mapping[Hashable, Hashable], gold: Mapping[Hashable, Hashable]) -> Scores:
    _check(predicted, gold)
    together = pairs_together(gold, predicted, gold)
    predicted_pairs, gold_pairs = pairs_together(gold, predicted), pairs_together(gold, gold)
    return Scores(together / predicted_pairs if predicted_pairs else 1.0,
                  together / gold_pairs if gold_pairs else 1.0)


def stage_scores(before: Mapping[Hashable, Hashable], after: Mapping[Hashable, Hashable],
                 gold: Mapping[Hashable, Hashable]) -> tuple[Scores, int]:
    """(precision and recall, pairs) of the pairs one stage joined: together in ``after``
    but not in ``before``, against the gold pairs ``before`` left apart."""
    joined = pairs_together(gold, after) - pairs_together(gold, after, before)
    right = pairs_together(gold, after, gold) - pairs_together(gold, after, gold, before)
    missed = pairs_together(gold, gold) - pairs_together(gold, gold, before)
    return Scores(right / joined if joined else 1.0, right / missed if missed else 1.0), joined
