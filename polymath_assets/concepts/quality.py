"""Cluster quality against a gold grouping: pairwise and B³ precision / recall / F1.

Both take two mappings item → cluster label over the same items. B³ (Bagga & Baldwin
1998) averages, per item, the overlap of its predicted and gold clusters; pairwise counts
item pairs placed together. Computed from cluster-intersection counts, never all pairs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping
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


def pairwise(predicted: Mapping[Hashable, Hashable], gold: Mapping[Hashable, Hashable]) -> Scores:
    _check(predicted, gold)

    def pairs(n: int) -> int:
        return n * (n - 1) // 2

    together = sum(pairs(n) for n in Counter((predicted[i], gold[i]) for i in gold).values())
    predicted_pairs = sum(pairs(n) for n in Counter(predicted.values()).values())
    gold_pairs = sum(pairs(n) for n in Counter(gold.values()).values())
    return Scores(together / predicted_pairs if predicted_pairs else 1.0,
                  together / gold_pairs if gold_pairs else 1.0)
