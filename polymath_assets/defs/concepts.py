"""canonical_concepts: every (surface, type) in passage_concepts resolved to a canonical concept."""

import dagster as dg

from polymath_assets.defs.extraction import passage_concepts
from polymath_assets.defs.placement import GPU_STEP_TAGS
from polymath_assets.defs.resources import EmbeddingResource, PostgresResource

_CHECKS = [
    dg.AssetCheckSpec("surfaces_resolved", asset="canonical_concepts", blocking=True,
                      description="At least POLYMATH_CONCEPT_MIN_RESOLVED of the distinct surfaces the run found in "
                                  "passage_concepts have a concept when it ends."),
    dg.AssetCheckSpec("cluster_size_outliers", asset="canonical_concepts",
                      description="No concept has more than POLYMATH_CONCEPT_MAX_CLUSTER aliases (a sign of over-merging)."),
    dg.AssetCheckSpec("merges_per_run", asset="canonical_concepts",
                      description="At most POLYMATH_CONCEPT_MAX_MERGE_SHARE of a run's surfaces were merged by the "
                                  "acronym and embedding stages."),
]


@dg.asset(
    deps=[passage_concepts],
    group_name="enrichment",
    kinds={"postgres", "pytorch"},
    op_tags=GPU_STEP_TAGS,  # a GPU node under the k8s executor (defs/placement.py)
    check_specs=_CHECKS,
)
def canonical_concepts(context: dg.AssetExecutionContext, postgres: PostgresResource,
                       embedder: EmbeddingResource) -> dg.MaterializeResult:
    """One row of ``concept_aliases`` per distinct (surface, type) of passage_concepts: the
    canonical concept it names and the stage that decided it (key, acronym, embedding, new,
    or manual). Extracted rows are never changed; ``passage_concepts_canonical`` shows
    the canonical id beside the merge-policy rows.

    Unpartitioned on purpose: a concept is corpus-wide — ``CNN`` in shard 3 and
    ``convolutional neural network`` in shard 40 must meet — and shard runs writing the same
    concepts at once would race. It is incremental instead: a run resolves only the
    surfaces that have no alias yet (against the concepts that exist, through the HNSW
    index of their name vectors), so materializing it after each shard costs what is new.
    A resolver version other than the last run's (POLYMATH_CONCEPT_RESOLVER_VERSION)
    makes the run a full re-resolution, and the graph follows through the alias change
    log. Operators' merges and splits are pinned and never changed here."""
    from polymath_assets.concepts.pipeline import resolve_corpus
    from polymath_assets.concepts.resolver import ResolverSettings
    from polymath_assets.kb.canonical import cluster_sizes

    config = postgres.config()
    settings = ResolverSettings.from_config(config)

    def embed(names: list[str]):  # the model loads only when a run has new names to embed
        return embedder.encoder().encode(names)

    with postgres.connect() as conn:
        summary = resolve_corpus(conn, embed, settings)
        conn.commit()
        largest, concepts, aliases = cluster_sizes(conn, limit=5)
    # The run's own surfaces (passage_concepts as the run found it): rows a concurrent
    # backfill commits meanwhile are the next run's, and must not fail this run's gate.
    resolved, surfaces = summary.resolved, summary.total
    share = resolved / surfaces if surfaces else 1.0
    merged = summary.by_stage.get("acronym", 0) + summary.by_stage.get("embedding", 0)
    merge_share = merged / summary.surfaces if summary.surfaces else 0.0
    outliers = [f"#{cid} {name} ({n})" for cid, name, n in largest if n > config.concept_max_cluster]
    context.log.info("resolved %d new surfaces into %d new concepts (%s)", summary.surfaces,
                     summary.concepts_created, summary.by_stage)
    return dg.MaterializeResult(
        metadata={
            "surfaces resolved now": summary.surfaces,
            "concepts created now": summary.concepts_created,
            "by stage": dg.MetadataValue.json(summary.by_stage),
            "passages scanned for acronyms": summary.acronym_passages,
            "concepts": concepts, "aliases": aliases,
            "largest concepts": ", ".join(f"{name} ({n})" for _, name, n in largest) or "-",
            "resolver version": settings.version,
            "mode": f"full ({summary.full_reason})" if summary.full_reason else "incremental",
            "seconds": dg.MetadataValue.float(round(summary.seconds, 2)),
        },
        check_results=[
            dg.AssetCheckResult(check_name="surfaces_resolved", passed=share >= config.concept_min_resolved,
                                severity=dg.AssetCheckSeverity.ERROR,
                                metadata={"resolved": resolved, "surfaces": surfaces, "share": round(share, 4)}),
            dg.AssetCheckResult(check_name="cluster_size_outliers", passed=not outliers,
                                severity=dg.AssetCheckSeverity.WARN,
                                metadata={"outliers": ", ".join(outliers) or "-",
                                          "limit": config.concept_max_cluster}),
            dg.AssetCheckResult(check_name="merges_per_run", passed=merge_share <= config.concept_max_merge_share,
                                severity=dg.AssetCheckSeverity.WARN,
                                metadata={"merged": merged, "surfaces": summary.surfaces,
                                          "share": round(merge_share, 4)}),
        ],
    )
