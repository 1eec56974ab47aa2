import dagster as dg

from polymath_assets.defs.partitions import shard_from_context
from polymath_assets.defs.placement import GPU_STEP_TAGS
from polymath_assets.defs.quality import shard_check
from polymath_assets.defs.resources import EmbeddingResource, PostgresResource


def passage_embeddings_asset(shards: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        partitions_def=shards,
        deps=["passage_concepts"],
        pool="gpu",
        group_name="enrichment",
        kinds={"pytorch", "postgres"},
        op_tags=GPU_STEP_TAGS,  # a GPU node under the k8s executor (defs/placement.py)
        check_specs=[shard_check("embedding_completeness", "passage_embeddings",
                                 "Every passage of the shard has an embedding from the configured model.", shards)],
    )
    def passage_embeddings(context: dg.AssetExecutionContext, postgres: PostgresResource,
                           embedder: EmbeddingResource) -> dg.MaterializeResult:
        """Dense vectors for the shard's passages that lack one from the configured model,
        written to pgvector (COPY into a temporary table, one UPDATE). Runs in pool "gpu"
        (limit 1); length-sorted batches; the HNSW index is created after the bulk write."""
        from polymath_assets.embedding.pipeline import embed_shard
        from polymath_assets.kb.embeddings import HnswBuild, count_missing, embedding_coverage, hnsw_index_exists
        from polymath_assets.progress import progress_bar

        shard = shard_from_context(context)
        shard_count = postgres.config().shard_count
        model = embedder.model_name()
        with postgres.connect() as conn:
            missing = count_missing(conn, shard, shard_count, model)
            if missing or not hnsw_index_exists(conn):
                encoder = embedder.encoder()
                with progress_bar(total=missing, desc=f"embed shard {shard}", unit="passage") as bar:
                    result = embed_shard(conn, encoder, shard=shard, shard_count=shard_count, progress=bar.update,
                                         index_build=HnswBuild.from_config(postgres.config()))
                embedded, seconds, device = result.embedded, result.seconds, encoder.device
            else:  # a re-run with nothing to do does not load the model (seconds on CPU, GPU memory)
                embedded, seconds, device = 0, 0.0, "not loaded: nothing to embed"
            with_embedding, total = embedding_coverage(conn, shard, shard_count, model)
        return dg.MaterializeResult(
            metadata={
                "embedded now": embedded,
                "passages with embedding": with_embedding,
                "passages": total,
                "model": model,
                "device": device,
                "seconds": dg.MetadataValue.float(round(seconds, 2)),
            },
            check_results=[dg.AssetCheckResult(
                check_name="embedding_completeness", passed=with_embedding == total,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"with embedding": with_embedding, "passages": total})],
        )

    return passage_embeddings
