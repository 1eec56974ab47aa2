"""The resolver: new surfaces → canonical concepts, in stages, incrementally.

Only surfaces without an alias are resolved; existing concepts are the anchors they are
resolved against, so a run costs in proportion to what is new, and the resolver never
touches an alias that exists (a pinned one least of all). Stages, each recorded as the
alias's ``stage``:

``key``       same normalization key as an existing alias or another new surface;
``acronym``   a short form whose dominant expansion (as written in the passages) is a
              known key, or the other way round;
``embedding`` the nearest canonical concepts of the name's vector (an HNSW index in
              pgvector, k neighbours per name: no step compares all pairs), above the
              similarity threshold, type-compatible, and past the guards of
              ``rules.embedding_merge_allowed``; new names in one bounded chunk are
              clustered against leaders only (the chaining guard);
``new``       founded a concept of its own.

The store (``polymath_assets.kb.canonical.CanonicalStore``) does the SQL; this module
decides.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from polymath_assets.concepts.normalize import is_acronym_like, surface_key
from polymath_assets.concepts.rules import TypeRules, embedding_merge_allowed, leader_clusters

Embed = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class ResolverSettings:
    version: str
    similarity: float
    neighbours: int
    type_rules: TypeRules
    acronym_dominance: float
    chunk_size: int

    @classmethod
    def from_config(cls, config) -> "ResolverSettings":
        return cls(version=config.concept_resolver_version, similarity=config.concept_similarity,
                   neighbours=config.concept_neighbours, type_rules=TypeRules.parse(config.concept_type_pairs),
                   acronym_dominance=config.concept_acronym_dominance, chunk_size=config.concept_chunk_size)


@dataclass(frozen=True)
class Surface:
    name: str
    type: str
    count: int = 1


@dataclass(frozen=True)
class Decision:
    name: str
    type: str
    concept_id: int
    key: str
    stage: str
    score: float | None


@dataclass
class Resolution:
    decisions: list[Decision] = field(default_factory=list)
    concepts_created: int = 0
    seconds: float = 0.0

    def by_stage(self) -> dict[str, int]:
        return dict(Counter(d.stage for d in self.decisions))


class Store(Protocol):
    def concepts_for_keys(self, keys: Sequence[str]) -> dict[str, list[tuple[int, str, bool]]]: ...
    def expansions_for(self, acronym_keys: Sequence[str]) -> dict[str, list[tuple[str, int]]]: ...
    def acronyms_for(self, expansion_keys: Sequence[str]) -> dict[str, list[str]]: ...
    def neighbours(self, vectors: np.ndarray, k: int) -> list[list[tuple[int, str, str, float]]]: ...
    def create_concepts(self, rows: list[tuple[str, str, np.ndarray | None]]) -> list[int]: ...


def dominant(expansions: Iterable[tuple[str, int]], share: float) -> str | None:
    """The expansion written for an acronym in at least ``share`` of its passages (``NLP``
    is natural language processing 5 times, natural language parsing once)."""
    counts = Counter()
    for key, n in expansions:
        counts[key] += n
    if not counts:
        return None
    key, n = counts.most_common(1)[0]
    return key if n / sum(counts.values()) >= share else None


@dataclass
class _Group:
    """New surfaces that share a key (and compatible types)."""
    key: str
    type: str
    surfaces: list[Surface]
    concept_id: int | None = None   # an existing concept this group joined
    manual: bool = False            # joined through an operator's decision: not extended by acronyms
    stage: str = "new"
    score: float | None = None

    @property
    def count(self) -> int:
        return sum(s.count for s in self.surfaces)


def preferred_name(surfaces: Iterable[Surface]) -> str:
    """The most written surface, expansions before acronyms, then the shorter, then A–Z."""
    return min(surfaces, key=lambda s: (is_acronym_like(s.name), -s.count, len(s.name), s.name)).name


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra
        return ra


def _group_by_key(surfaces: Iterable[Surface], rules: TypeRules) -> list[_Group]:
    by_key: dict[str, list[_Group]] = defaultdict(list)
    for surface in sorted(surfaces, key=lambda s: (s.type.lower(), s.name)):
        key = surface_key(surface.name)
        for group in by_key[key]:
            if rules.compatible(group.type, surface.type):
                group.surfaces.append(surface)
                break
        else:
            by_key[key].append(_Group(key, surface.type, [surface]))
    return [g for groups in by_key.values() for g in groups]


def _first_compatible(candidates: Iterable[tuple[int, str, bool]], type_: str, rules: TypeRules,
                      manual: bool = True) -> tuple[int, bool] | None:
    """The first candidate concept of a compatible type; ``manual=False`` skips concepts
    reached through an operator's decision (a split surface must not pull its expansion
    back in through the acronym stage)."""
    return next(((cid, is_manual) for cid, ctype, is_manual in candidates
                 if rules.compatible(ctype, type_) and (manual or not is_manual)), None)


def resolve(store: Store, surfaces: Iterable[Surface], embed: Embed, settings: ResolverSettings,
            progress: Callable[[int], None] | None = None) -> Resolution:
    """Decide a concept for every given surface (all assumed to lack an alias)."""
    started = time.perf_counter()
    rules = settings.type_rules
    groups = _group_by_key(surfaces, rules)
    result = Resolution()
    if not groups:
        return result

    # Stage key: an existing alias with the same key and a compatible type.
    existing = store.concepts_for_keys(sorted({g.key for g in groups}))
    for g in groups:
        found = _first_compatible(existing.get(g.key, ()), g.type, rules)
        if found is not None:
            (g.concept_id, g.manual), g.stage = found, "key"

    # Stage acronym, both directions, within the batch and against existing concepts.
    uf = _UnionFind(len(groups))
    index_by_key: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        index_by_key[g.key].append(i)
    short = [i for i, g in enumerate(groups) if not g.manual and any(is_acronym_like(s.name) for s in g.surfaces)]
    expansions = store.expansions_for(sorted({groups[i].key for i in short}))
    wanted_expansions: dict[int, str] = {}
    for i in short:
        e = dominant(expansions.get(groups[i].key, ()), settings.acronym_dominance)
        if e:
            wanted_expansions[i] = e
    outside = store.concepts_for_keys(sorted(set(wanted_expansions.values()) - set(index_by_key)))
    for i, e in wanted_expansions.items():
        g = groups[i]
        partner = next((j for j in index_by_key.get(e, ())
                        if rules.compatible(groups[j].type, g.type) and not groups[j].manual), None)
        if partner is not None:
            _join_by_acronym(groups, uf, i, partner)
        elif g.concept_id is None:
            found = _first_compatible(outside.get(e, ()) or existing.get(e, ()), g.type, rules, manual=False)
            if found is not None:
                g.concept_id, g.stage = found[0], "acronym"
    # An expansion arriving after its acronym became a concept.
    loose = [i for i, g in enumerate(groups) if g.concept_id is None and uf.find(i) == i]
    acronyms = store.acronyms_for(sorted({groups[i].key for i in loose}))
    if acronyms:
        their_expansions = store.expansions_for(sorted({a for keys in acronyms.values() for a in keys}))
        acronym_concepts = store.concepts_for_keys(sorted({a for keys in acronyms.values() for a in keys}))
        for i in loose:
            g = groups[i]
            for a in acronyms.get(g.key, ()):
                if dominant(their_expansions.get(a, ()), settings.acronym_dominance) != g.key:
                    continue
                found = _first_compatible(acronym_concepts.get(a, ()), g.type, rules, manual=False)
                if found is not None:
                    g.concept_id, g.stage = found[0], "acronym"
                    break

    # Clusters of groups; a cluster joined to an existing concept carries it to all members.
    clusters: dict[int, list[int]] = defaultdict(list)
    for i in range(len(groups)):
        clusters[uf.find(i)].append(i)
    for members in clusters.values():
        joined = next((groups[i] for i in members if groups[i].concept_id is not None), None)
        if joined is not None:
            for i in members:
                if groups[i].concept_id is None:
                    groups[i].concept_id = joined.concept_id
                    groups[i].stage = "acronym"

    # Stage embedding for clusters still without a concept; the rest found concepts.
    fresh = [members for members in clusters.values() if groups[members[0]].concept_id is None]
    created = _embed_and_found(store, groups, fresh, embed, settings, progress)
    result.concepts_created = created
    for g in groups:
        founder = preferred_name(g.surfaces) if g.stage == "new" else None
        for s in g.surfaces:
            stage = g.stage if (g.stage != "new" or s.name == founder) else "key"
            if g.stage in ("key",) or (g.stage == "new" and s.name != founder):
                score = None
            else:
                score = g.score
            result.decisions.append(Decision(s.name, s.type, g.concept_id, g.key, stage, score))
    result.seconds = time.perf_counter() - started
    return result


def _join_by_acronym(groups: list[_Group], uf: _UnionFind, acronym: int, expansion: int) -> None:
    a, e = groups[acronym], groups[expansion]
    if a.concept_id is not None and e.concept_id is not None and a.concept_id != e.concept_id:
        return  # two existing concepts: merging them is an operator's decision
    if a.concept_id is None:
        a.stage = "acronym"
    uf.union(expansion, acronym)


def _embed_and_found(store: Store, groups: list[_Group], fresh: list[list[int]], embed: Embed,
                     settings: ResolverSettings, progress) -> int:
    """Embedding stage over the fresh clusters, chunk by chunk; returns concepts created.

    Each chunk's names are searched in the HNSW index of existing concepts (which holds the
    leaders of earlier chunks too); names with no neighbour close enough are clustered
    inside the chunk against leaders only, and each leader founds a concept."""
    rules = settings.type_rules
    created = 0
    for start in range(0, len(fresh), settings.chunk_size):
        chunk = fresh[start:start + settings.chunk_size]
        names = [preferred_name(s for i in members for s in groups[i].surfaces) for members in chunk]
        types = [groups[members[0]].type for members in chunk]
        searchable = [n for n, name in enumerate(names) if not is_acronym_like(name)]
        vectors = np.zeros((len(chunk), 0), dtype=np.float32)
        leader_of = list(range(len(chunk)))
        score_of: list[float | None] = [None] * len(chunk)
        joined: dict[int, int] = {}
        if searchable:
            found = embed([names[n] for n in searchable])
            vectors = np.zeros((len(chunk), found.shape[1]), dtype=np.float32)
            vectors[searchable] = found
            for n, candidates in zip(searchable, store.neighbours(found, settings.neighbours)):
                for cid, ctype, cname, score in candidates:
                    if score < settings.similarity:
                        break
                    if rules.compatible(ctype, types[n]) and embedding_merge_allowed(names[n], cname):
                        joined[n], score_of[n] = cid, score
                        break
            rest = [n for n in searchable if n not in joined]
            if rest:
                local = leader_clusters(vectors[rest], [names[n] for n in rest], [types[n] for n in rest],
                                        rules, settings.similarity)
                for position, leader_position in enumerate(local):
                    n, leader = rest[position], rest[leader_position]
                    leader_of[n] = leader
                    if leader != n:
                        score_of[n] = float(vectors[n] @ vectors[leader])
        leaders = [n for n in range(len(chunk)) if n not in joined and leader_of[n] == n]
        ids = store.create_concepts([(names[n], types[n], vectors[n] if n in searchable else None)
                                     for n in leaders])
        created += len(ids)
        concept_of = dict(zip(leaders, ids)) | joined
        for n, members in enumerate(chunk):
            cid = concept_of.get(n, concept_of.get(leader_of[n]))
            by_embedding = n in joined or leader_of[n] != n
            for i in members:
                g = groups[i]
                g.concept_id = cid
                if by_embedding and g.stage == "new":
                    g.stage, g.score = "embedding", score_of[n]
        if progress:
            progress(sum(len(groups[i].surfaces) for members in chunk for i in members))
    return created
