"""One resolver run over the knowledge base, and the same path for a list of names.

``resolve_corpus`` (the ``canonical_concepts`` asset) scans new passages for acronym
pairs, then resolves every (surface, type) in passage_concepts that has no alias yet.
``resolve_names`` (``polymath concepts resolve``) resolves a given list the same way, the
list standing in for the passages as evidence of its acronyms; the caller decides whether
to commit. Both use the embedding threshold of the configured model (``with_threshold``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from polymath_assets.concepts.acronyms import input_set_pairs, passage_definitions
from polymath_assets.concepts.calibrate import threshold_for
from polymath_assets.concepts.resolver import (
    MERGING_STAGES,
    Embed,
    Resolution,
    ResolverSettings,
    Surface,
    acronym_choice,
    resolve,
)
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
    similarity: float | None = None  # the embedding stage's threshold (None: it merged nothing)
    similarity_source: str = ""
    redecided: int = 0               # aliases decided again because their acronym's evidence changed

    @property
    def merged(self) -> int:
        """Surfaces joined to another name's concept by evidence beyond their own key."""
        return sum(self.by_stage.get(stage, 0) for stage in MERGING_STAGES)


def scan_acronyms(conn, dominance: float, page: int = SCAN_PAGE, *, changes: bool = True) -> tuple[int, list[str]]:
    """Record the acronym definitions of every passage not scanned yet. Returns (passages
    scanned, the acronym keys whose corpus-wide choice of expansion changed). A full run
    decides every acronym again anyway: it passes ``changes=False``, and the counts are
    neither read before nor compared after (the list is then empty)."""
    store = canonical.CanonicalStore(conn)
    scanned, touched = 0, set()
    before: dict[str, list] = {}
    while True:
        rows = canonical.unscanned_passages(conn, page)
        if not rows:
            break
        found = [(pid, doc, a, e, short, long) for pid, doc, text in rows
                 for (a, e), (short, long) in passage_definitions(text).items()]
        if changes:
            new_keys = sorted({row[2] for row in found} - set(before))
            before.update({k: [] for k in new_keys} | store.expansions_for(new_keys))
        touched.update(canonical.record_definitions(conn, found, [pid for pid, _, _ in rows]))
        scanned += len(rows)
    if not changes:
        return scanned, []
    after = store.expansions_for(sorted(touched))
    changed = [a for a in sorted(touched)
               if acronym_choice(before.get(a, ()), dominance) != acronym_choice(after.get(a, ()), dominance)]
    return scanned, changed


def with_threshold(conn, settings: ResolverSettings) -> tuple[ResolverSettings, str]:
    """The settings with the embedding threshold for their model filled in (configured,
    calibrated, built in, or none), and where it came from."""
    similarity, source = threshold_for(settings, canonical.calibrated_threshold(conn, settings.model))
    return replace(settings, similarity=similarity), source


def full_reason(requested: bool, previous: tuple[str, float | None] | None, settings: ResolverSettings) -> str | None:
    """Why a run must forget every unpinned decision and resolve everything again, or None:
    asked for, or another resolver version or embedding threshold than the last run's
    (``previous``; ``settings`` with the threshold filled in). A new threshold — a
    calibration recorded for the model — must reach the names resolved before it too."""
    if requested:
        return "requested"
    if previous is None:
        return None
    version, similarity = previous
    if version != settings.version:
        return f"the resolver version changed ({version} -> {settings.version})"
    if not _same_threshold(similarity, settings.similarity):
        return (f"the embedding threshold for {settings.model} changed "
                f"({_threshold_text(similarity)} -> {_threshold_text(settings.similarity)})")
    return None


def _same_threshold(a: float | None, b: float | None) -> bool:
    """The run log keeps a threshold in single precision: equal to within that."""
    return a == b if a is None or b is None else abs(a - b) < 1e-6


def _threshold_text(similarity: float | None) -> str:
    return "none" if similarity is None else f"{similarity:.6g}"


def resolve_corpus(conn, embed: Embed, settings: ResolverSettings, *, full: bool = False,
                   progress: Callable[[int], None] | None = None) -> RunSummary:
    """Resolve what passage_concepts holds that has no alias yet. ``full`` — or a resolver
    version or embedding threshold other than the last run's (``full_reason``) — forgets
    every unpinned decision first and resolves everything again (the graph follows
    through the alias change log). Does not commit."""
    canonical.lock_resolver(conn)
    settings, source = with_threshold(conn, settings)
    reason = full_reason(full, canonical.last_run(conn), settings)
    run_id = canonical.start_run(conn, settings.version, reason is not None, settings.similarity, source)
    if reason:
        canonical.forget_unpinned(conn)
        canonical.rekey_pinned(conn)
        canonical.forget_acronyms(conn)
    canonical.snapshot_surfaces(conn)  # before the acronym scan: its passages cover these rows
    scanned, changed = scan_acronyms(conn, settings.acronym_dominance, changes=reason is None)
    # A definition learned now (or a second meaning) changes what an acronym already
    # resolved stands for: its concepts are decided again in this run.
    redecided = canonical.forget_concepts_of_keys(conn, changed)[0] if changed else 0
    surfaces = canonical.unresolved_surfaces(conn)
    resolution = _resolve_and_write(conn, surfaces, embed, settings, progress)
    canonical.finish_run(conn, run_id, surfaces=len(surfaces), created=resolution.concepts_created,
                         by_stage=resolution.by_stage(), seconds=resolution.seconds)
    resolved, total = canonical.run_coverage(conn)
    return RunSummary(run_id, len(surfaces), resolution.concepts_created, resolution.by_stage(), scanned,
                      resolution.seconds, reason, resolved, total, settings.similarity, source, redecided)


def _resolve_and_write(conn, surfaces: list[Surface], embed: Embed, settings: ResolverSettings,
                       progress, input_pairs: dict[str, tuple[str, bool]] | None = None) -> Resolution:
    resolution = resolve(canonical.CanonicalStore(conn), surfaces, embed, settings, progress, input_pairs)
    canonical.write_aliases(conn, resolution.decisions, settings.version)
    return resolution


def resolve_names(conn, surfaces: list[Surface], embed: Embed, settings: ResolverSettings,
                  progress: Callable[[int], None] | None = None) -> list[tuple[int, str]]:
    """(concept id, preferred name) for each given surface, in order: existing aliases as
    they are, the rest resolved and written like the asset does. Does not commit."""
    canonical.lock_resolver(conn)
    settings, _ = with_threshold(conn, settings)
    unique = {(s.name, s.type): s for s in surfaces}
    known = canonical.lookup_aliases(conn, list(unique))
    todo = [s for key, s in unique.items() if key not in known]
    # No passages here: the list itself is the evidence for its acronyms.
    _resolve_and_write(conn, todo, embed, settings, progress, input_set_pairs(s.name for s in unique.values()))
    found = canonical.lookup_aliases(conn, list(unique))
    return [found[(s.name, s.type)] for s in surfaces]
