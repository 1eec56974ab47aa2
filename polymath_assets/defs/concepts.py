"""canonical_concepts: every (surface, type) in passage_concepts resolved to a canonical concept."""

import dagster as dg

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
                                  "acronym, head and embedding stages."),
]


def canonical_concepts_asset() -> dg.AssetsDefinition:
    @dg.asset(
        deps=["passage_concepts"],
        group_name="enrichment",
        kinds={"postgres", "pytorch"},
        # It loads the embedding model (for new names): one model user at a time, beside
        # passage_embeddings, and the same loaded model for both within a process.
        pool="gpu",
        op_tags=GPU_STEP_TAGS,  # a GPU node under the k8s executor (defs/placement.py)
        check_specs=_CHECKS,
    )
    def canonical_concepts(context: dg.AssetExecutionContext, postgres: PostgresResource,
                           embedder: EmbeddingResource) -> dg.MaterializeResult:
        """One row of ``concept_aliases`` per distinct (surface, type) of passage_concepts: the
        canonical concept it names and the stage that decided it (a variant rule of the key,
        acronym, head, embedding, new, or manual). Extracted rows are never changed; ``passage_concepts_canonical`` shows
        the canonical id beside the merge-policy rows.

        Unpartitioned on purpose: a concept is corpus-wide — ``CNN`` in shard 3 and
        ``convolutional neural network`` in shard 40 must meet — and shard runs writing the same
        concepts at once would race. It is incremental instead: a run resolves only the
        surfaces that have no alias yet (against the concepts that exist, through the HNSW
        index of their name vectors), so materializing it after each shard costs what is new.
        A resolver version (POLYMATH_CONCEPT_RESOLVER_VERSION) or embedding threshold other
        than the last run's makes the run a full re-resolution, and the graph follows through the alias change
        log. Operators' merges and splits are pinned and never changed here."""
        from polymath_assets.concepts.names import name_vectors
        from polymath_assets.operations.concepts import resolve_concepts

        def embed(names: list[str]):  # the model loads only when a run has new names to embed
            return name_vectors(embedder.encoder())(names)

        with postgres.connect() as conn:
            resolution = resolve_concepts(conn, embed, postgres.config())
        summary = resolution.summary
        context.log.info(resolution.line())
        return dg.MaterializeResult(
            metadata={
                "surfaces resolved now": summary.surfaces,
                "concepts created now": summary.concepts_created,
                "by stage": dg.MetadataValue.json(summary.by_stage),
                "passages scanned for acronyms": summary.acronym_passages,
                "concepts": resolution.concepts, "aliases": resolution.aliases,
                "largest concepts": ", ".join(f"{name} ({n})" for _, name, n in resolution.largest) or "-",
                "resolver version": resolution.version,
                "embedding threshold": resolution.threshold(),
                "mode": resolution.mode,
                "seconds": dg.MetadataValue.float(round(summary.seconds, 2)),
            },
            check_results=[dg.AssetCheckResult(
                check_name=check.name, passed=check.passed, metadata=check.metadata,
                severity=dg.AssetCheckSeverity.ERROR if check.blocking else dg.AssetCheckSeverity.WARN)
                for check in resolution.checks],
        )

    return canonical_concepts
