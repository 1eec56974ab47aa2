"""The resolver: new surfaces → canonical concepts, in stages, incrementally.

Only surfaces without an alias are resolved; existing concepts are the anchors they are
resolved against, so a run costs in proportion to what is new, and the resolver never
touches an alias that exists (a pinned one least of all). Stages, each recorded as the
alias's ``stage``:

``key``, ``punctuation``, ``article``, ``bracket``, ``spelling``, ``plural``
              same normalization key as an existing alias or another new surface; the
              stage names the last variant rule the surface needed (``normalize``);
``acronym``   a short form whose expansion is a known key, or the other way round: the
              expansion the corpus's documents give it (``acronym_choice``), or for an
              acronym the corpus gives several, the one its own documents define; in
              a list of names, the one expansion of the list its initials spell;
``head``      ``NAME HEAD`` where HEAD is a generic head noun and NAME a name that is a
              concept itself (``ELMo embeddings`` → ``ELMo``), either way round;
``embedding`` the nearest canonical concepts of the name's vector (an HNSW index in
              pgvector, k neighbours per name: no step compares all pairs), above the
              similarity threshold of the embedding model, type-compatible, and past the
              guards of ``rules.embedding_merge_allowed``; new names in one bounded chunk
              are clustered against leaders only (the chaining guard);
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

from polymath_assets.concepts.normalize import is_acronym_like, normalize_key, surface_key, variant_stages, words
from polymath_assets.concepts.rules import (
    TypeRules,
    embedding_merge_allowed,
    head_stem,
    is_name,
    leader_clusters,
    names_a_process,
)

Embed = Callable[[list[str]], np.ndarray]
# The stages that join a surface to another name's concept by evidence beyond its own key.
MERGING_STAGES = frozenset({"acronym", "head", "embedding"})


@dataclass(frozen=True)
class ResolverSettings:
    version: str
    similarity: float | None     # None: the embedding stage merges nothing (no threshold for the model)
    neighbours: int
    type_rules: TypeRules
    acronym_dominance: float
    chunk_size: int
    head_nouns: frozenset[str] = frozenset()   # keys of the generic head nouns; empty: no head stage
    model: str = ""                            # the embedding model names are embedded with
    stages: frozenset[str] = MERGING_STAGES    # all in production; fewer to measure what each adds

    @classmethod
    def from_config(cls, config) -> "ResolverSettings":
        return cls(version=config.concept_resolver_version, similarity=config.concept_similarity,
                   neighbours=config.concept_neighbours, type_rules=TypeRules.parse(config.concept_type_pairs),
                   acronym_dominance=config.concept_acronym_dominance, chunk_size=config.concept_chunk_size,
                   head_nouns=parse_head_nouns(config.concept_head_nouns), model=config.embedding_model)


def parse_head_nouns(text: str) -> frozenset[str]:
    """``model,method,...`` → their keys (``embeddings`` and ``embedding`` are one); ``none``: empty."""
    if text.strip().lower() == "none":
        return frozenset()
    return frozenset(k for k in (normalize_key(w) for w in text.split(",")) if k)


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


# (expansion key, documents that define it, the expansion as written once)
Expansion = tuple[str, int, str]


class Store(Protocol):
    def concepts_for_keys(self, keys: Sequence[str]) -> dict[str, list[tuple[int, str, bool]]]: ...
    def concepts_with_heads(self, keys: Sequence[str],
                            heads: Sequence[str]) -> dict[str, list[tuple[int, str, bool]]]: ...
    def alias_surfaces(self, joined: Sequence[tuple[str, int]]) -> dict[tuple[str, int], list[str]]: ...
    def expansions_for(self, acronym_keys: Sequence[str]) -> dict[str, list[Expansion]]: ...
    def local_expansions(self, items: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str], list[Expansion]]: ...
    def acronyms_for(self, expansion_keys: Sequence[str]) -> dict[str, list[str]]: ...
    def neighbours(self, vectors: np.ndarray, k: int) -> list[list[tuple[int, str, str, float]]]: ...
    def create_concepts(self, rows: list[tuple[str, str, np.ndarray | None]]) -> list[int]: ...


def _by_meaning(expansions: Iterable[Expansion]) -> dict[str, int]:
    """Documents per expansion, a narrower expansion counted with the broader one it ends
    in (``statistical machine translation`` for ``MT`` is machine translation, narrowed)."""
    broader: list[tuple[str, list[str]]] = []
    counts: dict[str, int] = {}
    for key, documents, written in sorted(expansions, key=lambda x: (len(words(x[2])), x[0])):
        found = words(written)
        target = next((k for k, w in broader if len(w) < len(found) and found[-len(w):] == w), None)
        if target is None:
            broader.append((key, found))
            target = key
        counts[target] = counts.get(target, 0) + max(documents, 1)  # a recorded pair has a source
    return counts


def acronym_choice(expansions: Iterable[Expansion], dominance: float) -> tuple[str | None, bool]:
    """(the expansion key an acronym stands for across the corpus, whether it is ambiguous).

    Weighed by documents, not passages (a paper repeating its definition is one vote). An
    expansion defined in one document only does not compete with one defined in three or
    more (``NLP`` is natural language processing in five papers and natural language
    parsing in one); otherwise the first expansion needs ``dominance`` of the documents,
    or the acronym is ambiguous (``AP``: average precision, affinity propagation)."""
    counts = _by_meaning(expansions)
    if not counts:
        return None, False
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    top_key, top = ranked[0]
    rivals = sum(n for _, n in ranked[1:] if not (n <= 1 and top >= 3))
    if top / (top + rivals) >= dominance:
        return top_key, False
    return None, True


def chosen_expansion(expansions: Sequence[Expansion], dominance: float) -> str | None:
    """The expansion ``acronym_choice`` chooses, as the corpus writes it; None when ambiguous or unknown."""
    key, _ = acronym_choice(expansions, dominance)
    return next((written for k, _, written in expansions if k == key), None) if key else None


def defined_locally(expansions: Iterable[Expansion]) -> str | None:
    """The expansion the documents writing an ambiguous acronym define, when they agree."""
    counts = _by_meaning(expansions)
    return next(iter(counts)) if len(counts) == 1 else None


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
    via: str | None = None          # the stage of the link that put this group in a cluster
    founder: bool = False           # holds the preferred name of the concept its cluster founded

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
            progress: Callable[[int], None] | None = None,
            input_pairs: dict[str, tuple[str, bool]] | None = None) -> Resolution:
    """Decide a concept for every given surface (all assumed to lack an alias).
    ``input_pairs`` (acronym key → (expansion key, defined by a name of the list)) is the
    evidence a list of names gives itself (``acronyms.input_set_pairs``): a definition in
    the list decides, as a passage's own does; initials count where the corpus has no
    evidence, or is ambiguous and knows that expansion too."""
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

    uf = _UnionFind(len(groups))
    index_by_key: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        index_by_key[g.key].append(i)
    if "acronym" in settings.stages:
        _acronym_stage(store, groups, uf, index_by_key, existing, settings, input_pairs or {})
    if settings.head_nouns and "head" in settings.stages:
        _head_stage(store, groups, uf, index_by_key, existing, settings)

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
                    if groups[i].stage == "new":
                        groups[i].stage = groups[i].via or "acronym"

    # Stage embedding for clusters still without a concept; the rest found concepts.
    fresh = [members for members in clusters.values() if groups[members[0]].concept_id is None]
    result.concepts_created = _embed_and_found(store, groups, fresh, embed, settings, progress)
    anchors = store.alias_surfaces(sorted({(g.key, g.concept_id) for g in groups if g.stage == "key"}))
    for g in groups:
        names = [s.name for s in g.surfaces]
        if g.stage == "key":  # joined an existing concept by key: which rule met its aliases
            stages = variant_stages(names, anchors.get((g.key, g.concept_id), ()))
        elif g.stage == "new" and g.founder:
            founder = preferred_name(g.surfaces)
            stages = ["new" if n == founder else st for n, st in zip(names, variant_stages(names))]
        elif g.stage == "new":  # in a cluster another group founded
            stages = [g.via or "acronym"] * len(names)
        else:
            stages = [g.stage] * len(names)
        for s, stage in zip(g.surfaces, stages):
            score = g.score if stage == "embedding" else None
            result.decisions.append(Decision(s.name, s.type, g.concept_id, g.key, stage, score))
    result.seconds = time.perf_counter() - started
    return result


def _expansion_of(key: str, corpus: Iterable[Expansion], listed: tuple[str, bool] | None,
                  dominance: float) -> tuple[str | None, bool]:
    """(the expansion an acronym key stands for, whether the corpus finds it ambiguous),
    from a definition in the list of names, the corpus, or the list's initials."""
    if listed and listed[1]:
        return listed[0], False
    corpus = list(corpus)
    e, unclear = acronym_choice(corpus, dominance)
    if e or not listed:
        return e, unclear
    if unclear:  # the list may pick one of the corpus's meanings, not a meaning of its own
        return (listed[0] if listed[0] in {x[0] for x in corpus} else None), True
    return listed[0], False


def _acronym_stage(store: Store, groups: list[_Group], uf: _UnionFind, index_by_key: dict[str, list[int]],
                   existing: dict, settings: ResolverSettings, input_pairs: dict[str, tuple[str, bool]]) -> None:
    """Stage acronym, both directions, within the batch and against existing concepts."""
    rules = settings.type_rules
    short = [i for i, g in enumerate(groups) if not g.manual and any(is_acronym_like(s.name) for s in g.surfaces)]
    expansions = store.expansions_for(sorted({groups[i].key for i in short}))
    wanted: dict[int, str] = {}
    ambiguous: list[int] = []
    for i in short:
        key = groups[i].key
        e, unclear = _expansion_of(key, expansions.get(key, ()), input_pairs.get(key), settings.acronym_dominance)
        if e:
            wanted[i] = e
        elif unclear:
            ambiguous.append(i)
    if ambiguous:  # kept apart unless the documents that write the acronym define it one way
        local = store.local_expansions([(s.name, s.type, groups[i].key) for i in ambiguous for s in groups[i].surfaces])
        for i in ambiguous:
            e = defined_locally(x for s in groups[i].surfaces for x in local.get((s.name, s.type), ()))
            if e:
                wanted[i] = e
    outside = store.concepts_for_keys(sorted(set(wanted.values()) - set(index_by_key)))
    for i, e in wanted.items():
        g = groups[i]
        partner = next((j for j in index_by_key.get(e, ())
                        if rules.compatible(groups[j].type, g.type) and not groups[j].manual), None)
        if partner is not None:
            _join(groups, uf, i, partner, "acronym")
        elif g.concept_id is None:
            found = _first_compatible(outside.get(e, ()) or existing.get(e, ()), g.type, rules, manual=False)
            if found is not None:
                g.concept_id, g.stage = found[0], "acronym"
    # An expansion arriving after its acronym became a concept.
    loose = [i for i, g in enumerate(groups) if g.concept_id is None and uf.find(i) == i]
    from_corpus = store.acronyms_for(sorted({groups[i].key for i in loose}))
    from_input: dict[str, list[str]] = defaultdict(list)
    for a, (e, _) in input_pairs.items():
        from_input[e].append(a)
    candidates = {i: list(dict.fromkeys(from_corpus.get(groups[i].key, []) + from_input.get(groups[i].key, [])))
                  for i in loose}
    wanted_acronyms = sorted({a for found in candidates.values() for a in found})
    if not wanted_acronyms:
        return
    their_expansions = store.expansions_for(wanted_acronyms)
    acronym_concepts = store.concepts_for_keys(wanted_acronyms)
    for i in loose:
        g = groups[i]
        for a in candidates[i]:
            e, _ = _expansion_of(a, their_expansions.get(a, ()), input_pairs.get(a), settings.acronym_dominance)
            if e != g.key:
                continue
            found = _first_compatible(acronym_concepts.get(a, ()), g.type, rules, manual=False)
            if found is not None:
                g.concept_id, g.stage = found[0], "acronym"
                break


def _head_stage(store: Store, groups: list[_Group], uf: _UnionFind, index_by_key: dict[str, list[int]],
                existing: dict, settings: ResolverSettings) -> None:
    """Stage head: ``NAME HEAD`` joins ``NAME`` (a name that is a concept itself), in the
    batch or among existing concepts; a new ``NAME`` joins an existing ``NAME HEAD``."""
    rules = settings.type_rules
    stems: dict[int, str] = {}
    for i, g in enumerate(groups):
        if g.concept_id is None and not g.manual:
            stem = head_stem(preferred_name(g.surfaces), settings.head_nouns)
            if stem and stem != g.key:
                stems[i] = stem
    names = {i: preferred_name(g.surfaces) for i, g in enumerate(groups)
             if g.concept_id is None and not g.manual and uf.find(i) == i and i not in stems}
    names = {i: n for i, n in names.items() if is_name(n)}
    # An acronym for a task or process keeps its head (``WSD models``, ``MT architecture``):
    # the expansion the acronym stage chooses for it says which.
    expansions = store.expansions_for(sorted(set(stems.values()) | {groups[i].key for i in names}))
    processes = {k for k, found in expansions.items()
                 if (written := chosen_expansion(found, settings.acronym_dominance)) and names_a_process(written)}
    stems = {i: stem for i, stem in stems.items() if stem not in processes}
    names = {i: n for i, n in names.items() if groups[i].key not in processes}
    outside = store.concepts_for_keys(sorted(set(stems.values()) - set(index_by_key)))
    for i, stem in stems.items():
        g = groups[i]
        partner = next((j for j in index_by_key.get(stem, ())
                        if j != i and rules.compatible(groups[j].type, g.type) and not groups[j].manual), None)
        if partner is not None:
            _join(groups, uf, i, partner, "head")
        else:
            found = _first_compatible(outside.get(stem, ()) or existing.get(stem, ()), g.type, rules, manual=False)
            if found is not None:
                g.concept_id, g.stage = found[0], "head"
    names = {i: n for i, n in names.items() if groups[i].concept_id is None}
    if not names:
        return
    longer = store.concepts_with_heads(sorted({groups[i].key for i in names}), sorted(settings.head_nouns))
    for i in names:
        g = groups[i]
        found = _first_compatible(longer.get(g.key, ()), g.type, rules, manual=False)
        if found is not None:
            g.concept_id, g.stage = found[0], "head"


def _join(groups: list[_Group], uf: _UnionFind, joining: int, anchor: int, stage: str) -> None:
    """Put group ``joining`` in the cluster of ``anchor`` through a link of ``stage``."""
    a, e = groups[joining], groups[anchor]
    if a.concept_id is not None and e.concept_id is not None and a.concept_id != e.concept_id:
        return  # two existing concepts: merging them is an operator's decision
    if a.concept_id is None:
        a.stage = stage
    e.via = e.via or stage
    uf.union(anchor, joining)


def _embed_and_found(store: Store, groups: list[_Group], fresh: list[list[int]], embed: Embed,
                     settings: ResolverSettings, progress) -> int:
    """Embedding stage over the fresh clusters, chunk by chunk; returns concepts created.

    Each chunk's names are searched in the HNSW index of existing concepts (which holds the
    leaders of earlier chunks too); names with no neighbour close enough are clustered
    inside the chunk against leaders only, and each leader founds a concept."""
    rules = settings.type_rules
    # No threshold for the model (or the stage off): names are embedded and indexed, for
    # a later calibrated run to find, but neither searched nor clustered — every name
    # leads its own concept, so the stage costs only the vectors.
    merging = settings.similarity is not None and "embedding" in settings.stages
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
        if searchable and merging:
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
        leading = set(leaders)
        embedded = set(searchable)
        ids = store.create_concepts([(names[n], types[n], vectors[n] if n in embedded else None)
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
                elif n in leading and g.stage == "new":
                    g.founder = any(s.name == names[n] for s in g.surfaces)
        if progress:
            progress(sum(len(groups[i].surfaces) for members in chunk for i in members))
    return created
