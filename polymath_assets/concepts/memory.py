"""The resolver's store in memory, for resolving a list of names with nothing stored:
calibrating the embedding threshold against a gold set (``calibrate``) and the property
tests. Aliases by key, acronym pairs with their document counts, concepts with vectors;
neighbours by exact search (the answers an ideal index would give). No passages, so no
document defines an acronym locally."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from polymath_assets.concepts.acronyms import passage_definitions
from polymath_assets.concepts.resolver import Decision, Expansion


class MemoryStore:
    def __init__(self):
        self.concepts: list[tuple[str, str, np.ndarray | None]] = []
        self.aliases: dict[tuple[str, str], Decision] = {}
        self.acronyms: dict[tuple[str, str], list] = {}   # (acronym key, expansion key) → [documents, written]
        self._by_key: dict[str, list[Decision]] = defaultdict(list)
        self._vectors: list[np.ndarray] = []
        self._vector_concepts: list[int] = []
        self._matrix: np.ndarray | None = None

    def concepts_for_keys(self, keys: Sequence[str]) -> dict[str, list[tuple[int, str, bool]]]:
        found: dict[str, list[tuple[int, str, bool]]] = {}
        for key in set(keys):
            for d in self._by_key.get(key, ()):
                row = (d.concept_id, d.type, False)
                if row not in found.setdefault(key, []):
                    found[key].append(row)
        return found

    def concepts_with_heads(self, keys: Sequence[str], heads: Sequence[str]) -> dict[str, list[tuple[int, str, bool]]]:
        found: dict[str, list[tuple[int, str, bool]]] = {}
        for key in set(keys):
            rows = [row for head in heads for row in self.concepts_for_keys([key + head]).get(key + head, ())]
            if rows:
                found[key] = rows
        return found

    def alias_surfaces(self, joined: Sequence[tuple[str, int]]) -> dict[tuple[str, int], list[str]]:
        return {(k, c): [d.name for d in self._by_key.get(k, ()) if d.concept_id == c] for k, c in set(joined)}

    def expansions_for(self, acronym_keys: Sequence[str]) -> dict[str, list[Expansion]]:
        wanted, found = set(acronym_keys), defaultdict(list)
        for (a, e), (documents, written) in self.acronyms.items():
            if a in wanted:
                found[a].append((e, documents, written))
        return dict(found)

    def local_expansions(self, items: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str], list[Expansion]]:
        return {}

    def acronyms_for(self, expansion_keys: Sequence[str]) -> dict[str, list[str]]:
        wanted, found = set(expansion_keys), defaultdict(list)
        for a, e in self.acronyms:
            if e in wanted:
                found[e].append(a)
        return dict(found)

    def neighbours(self, vectors: np.ndarray, k: int) -> list[list[tuple[int, str, str, float]]]:
        if not self._vectors:
            return [[] for _ in range(len(vectors))]
        if self._matrix is None or len(self._matrix) != len(self._vectors):
            self._matrix = np.vstack(self._vectors)
        scores = np.asarray(vectors, dtype=np.float32) @ self._matrix.T
        out = []
        for row in scores:
            best = np.argsort(-row, kind="stable")[:k]
            out.append([(self._vector_concepts[j], self.concepts[self._vector_concepts[j]][1],
                         self.concepts[self._vector_concepts[j]][0], float(row[j])) for j in best])
        return out

    def create_concepts(self, rows: list[tuple[str, str, np.ndarray | None]]) -> list[int]:
        start = len(self.concepts)
        for cid, (name, type_, vector) in enumerate(rows, start=start):
            self.concepts.append((name, type_, vector))
            if vector is not None:
                self._vectors.append(np.asarray(vector, dtype=np.float32))
                self._vector_concepts.append(cid)
        return list(range(start, start + len(rows)))

    def add_documents(self, texts: Iterable[str]) -> None:
        """The acronym definitions of texts that are each a document of their own, counted
        as the corpus scan counts them (one vote per document)."""
        for text in texts:
            for pair, (_, written) in passage_definitions(text).items():
                self.acronyms.setdefault(pair, [0, written])[0] += 1

    def save(self, decisions: Sequence[Decision]) -> None:
        """What the pipeline writes after a resolution: the aliases (an existing one stays)."""
        for d in decisions:
            if (d.name, d.type) not in self.aliases:
                self.aliases[(d.name, d.type)] = d
                self._by_key[d.key].append(d)
