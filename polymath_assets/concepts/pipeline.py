"""One resolver run over the knowledge base, and the same path for a list of names.

``resolve_corpus`` (the ``canonical_concepts`` asset) scans new passages for acronym
pairs, then resolves every (surface, type) in passage_concepts that has no alias yet.
``resolve_names`` (``polymath concepts resolve``) resolves a given list the same way; the
caller decides whether to commit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from polymath_assets.concepts.acronyms import find_pairs, pair_keys, pairs_in_surface
from polymath_assets.concepts.resolver import Embed, Resolution, ResolverSettings, Surface, resolve
from polymath_assets.kb import canonical

SCAN_PAGE = 5000


@dataclass(frozen=True)
class RunSummary:
    run_id: int
    surfaces: int
    concepts_created: int
    by_stage: dict[str, int]
    acronym_passages: int
    seconds: float
    full_reason: str | None = None   # why every unpinned decision was made again; None: incremental
    resolved: int = 0                # of the run's surfaces (passage_concepts as the run found it),
    total: int = 0                   # those that have a concept when the run ends


def acronym_counts(texts: Iterable[str]) -> Counter:
    """(acronym key, expansion key, acronym, expansion) → passages that write the pair
    (once per passage however often it is repeated there)."""
    counts: Counter = Counter()
    for text in texts:
        seen = {}
        for short, long in find_pairs(text):
            for a, e in pair_keys([(short, long)]):
                seen.setdefault((a, e), (short, long))
        for (a, e), (short, long) in seen.items():
            counts[(a, e, short, long)] += 1
    return counts


def _merge_by_key(counts: Counter) -> list[tuple[str, str, str, str, int]]:
    merged: dict[tuple[str, str], list] = {}
    for (a, e, short, long), n in counts.items():
        row = merged.setdefault((a, e), [a, e, short, long, 0])
        row[4] += n
    return [tuple(r) for r in merged.values()]


def scan_acronyms(conn, page: int = SCAN_PAGE) -> int:
    """Record the acronym pairs of every passage not scanned yet; returns passages scanned."""
    scanned = 0
    while True:
        rows = canonical.unscanned_passages(conn, page)
        if not rows:
            return scanned
        canonical.record_acronyms(conn, _merge_by_key(acronym_counts(text for _, text in rows)),
                                  [pid for pid, _ in rows])
        scanned += len(rows)


def record_surface_acronyms(conn, surfaces: Iterable[Surface]) -> None:
    """``convolutional neural network (CNN)`` written as one surface is a pair too."""
    counts: Counter = Counter()
    for s in surfaces:
        pair = pairs_in_surface(s.name)
        if pair:
            for a, e in pair_keys([pair]):
                counts[(a, e, pair[0], pair[1])] += s.count
    canonical.record_acronyms(conn, _merge_by_key(counts))


def full_reason(requested: bool, previous_version: str | None, version: str) -> str | None:
    """Why a run must forget every unpinned decision and resolve everything again, or None."""
    if requested:
        return "requested"
    if previous_version is not None and previous_version != version:
        return f"the resolver version changed ({previous_version} -> {version})"
    return None


def resolve_corpus(conn, embed: Embed, settings: ResolverSettings, *, full: bool = False,
                   progress: Callable[[int], None] | None = None) -> RunSummary:
    """Resolve what passage_concepts holds that has no alias yet. ``full`` — or a resolver
    version other than the last run's — forgets every unpinned decision first and
    resolves everything again (the graph follows through the alias change log). Does not
    commit."""
    canonical.lock_resolver(conn)
    reason = full_reason(full, canonical.last_version(conn), settings.version)
    run_id = canonical.start_run(conn, settings.version, reason is not None)
    if reason:
        canonical.forget_unpinned(conn)
    canonical.snapshot_surfaces(conn)  # before the acronym scan: its passages cover these rows
    scanned = scan_acronyms(conn)
    surfaces = canonical.unresolved_surfaces(conn)
    resolution = _resolve_and_write(conn, surfaces, embed, settings, progress)
    canonical.finish_run(conn, run_id, surfaces=len(surfaces), created=resolution.concepts_created,
                         by_stage=resolution.by_stage(), seconds=resolution.seconds)
    resolved, total = canonical.run_coverage(conn)
    return RunSummary(run_id, len(surfaces), resolution.concepts_created, resolution.by_stage(), scanned,
                      resolution.seconds, reason, resolved, total)


def _resolve_and_write(conn, surfaces: list[Surface], embed: Embed, settings: ResolverSettings,
                       progress) -> Resolution:
    record_surface_acronyms(conn, surfaces)
    resolution = resolve(canonical.CanonicalStore(conn), surfaces, embed, settings, progress)
    canonical.write_aliases(conn, resolution.decisions, settings.version)
    return resolution


def resolve_names(conn, surfaces: list[Surface], embed: Embed, settings: ResolverSettings,
                  progress: Callable[[int], None] | None = None) -> list[tuple[int, str]]:
    """(concept id, preferred name) for each given surface, in order: existing aliases as
    they are, the rest resolved and written like the asset does. Does not commit."""
    canonical.lock_resolver(conn)
    unique = {(s.name, s.type): s for s in surfaces}
    known = canonical.lookup_aliases(conn, list(unique))
    todo = [s for key, s in unique.items() if key not in known]
    _resolve_and_write(conn, todo, embed, settings, progress)
    found = canonical.lookup_aliases(conn, list(unique))
    return [found[(s.name, s.type)] for s in surfaces]
