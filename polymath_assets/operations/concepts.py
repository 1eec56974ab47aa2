"""Canonical-concepts use case: resolve the surfaces that have no concept yet (or all of
them, in a full run) and measure the run against its checks — what the
``canonical_concepts`` asset does and ``polymath concepts run`` prints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import psycopg

from polymath_assets.concepts.pipeline import RunSummary, resolve_corpus
from polymath_assets.concepts.resolver import ResolverSettings
from polymath_assets.config import Config
from polymath_assets.kb.canonical import cluster_sizes


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    blocking: bool
    metadata: dict


@dataclass
class Resolution:
    summary: RunSummary
    version: str
    concepts: int
    aliases: int
    largest: list[tuple[int, str, int]]  # (concept id, preferred name, aliases)
    checks: list[Check]

    @property
    def mode(self) -> str:
        return f"full ({self.summary.full_reason})" if self.summary.full_reason else "incremental"

    def line(self) -> str:
        s = self.summary
        return (f"resolved {s.surfaces} surfaces, {s.concepts_created} new concepts, by stage {s.by_stage} "
                f"({s.seconds:.1f}s)")

    def threshold(self) -> str:
        """The embedding threshold the run used and where it came from."""
        s = self.summary
        return f"{'off' if s.similarity is None else f'{s.similarity:g}'} ({s.similarity_source})"


def resolve_concepts(conn: psycopg.Connection, embed: Callable[[list[str]], np.ndarray], config: Config, *,
                     full: bool = False) -> Resolution:
    """One resolver run (one writer at a time: it holds the resolver's lock), committed,
    with the values of the asset's three checks:

    - ``surfaces_resolved`` (blocking): the share of the surfaces the run found (one
      snapshot at its start: rows a concurrent backfill commits meanwhile are the next
      run's) that have a concept when it ends;
    - ``cluster_size_outliers``: concepts with more aliases than the configured limit;
    - ``merges_per_run``: the share of the run's surfaces joined by the acronym, head
      and embedding stages.

    ``embed`` is called only when the run has new names: a run with nothing to resolve
    never loads a model."""
    settings = ResolverSettings.from_config(config)
    summary = resolve_corpus(conn, embed, settings, full=full)
    conn.commit()
    largest, concepts, aliases = cluster_sizes(conn, limit=5)
    conn.commit()
    share = summary.resolved / summary.total if summary.total else 1.0
    merged = summary.merged
    merge_share = merged / summary.surfaces if summary.surfaces else 0.0
    outliers = [f"#{cid} {name} ({n})" for cid, name, n in largest if n > config.concept_max_cluster]
    checks = [
        Check("surfaces_resolved", share >= config.concept_min_resolved, True,
              {"resolved": summary.resolved, "surfaces": summary.total, "share": round(share, 4),
               "target": f">= {config.concept_min_resolved}"}),
        Check("cluster_size_outliers", not outliers, False,
              {"outliers": ", ".join(outliers) or "-", "limit": config.concept_max_cluster}),
        Check("merges_per_run", merge_share <= config.concept_max_merge_share, False,
              {"merged": merged, "surfaces": summary.surfaces, "share": round(merge_share, 4),
               "target": f"<= {config.concept_max_merge_share}"}),
    ]
    return Resolution(summary, settings.version, concepts, aliases, largest, checks)
