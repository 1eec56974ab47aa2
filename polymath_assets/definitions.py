"""The Definitions of the code location, a pure function of the Config passed in.

``build_definitions(config)`` is what tests call with their own configuration (the shard
partitions included); the module-level ``defs`` (what ``dagster dev`` / the deployed
location load) is built from the environment, and refuses a production deployment
without its servers."""

import warnings

import dagster as dg

from polymath_assets.config import Config
from polymath_assets.defs.concepts import canonical_concepts_asset
from polymath_assets.defs.embeddings import passage_embeddings_asset
from polymath_assets.defs.extraction import gemini_batch_jobs_asset, passage_concepts_asset
from polymath_assets.defs.graph import neo4j_concept_graph_asset
from polymath_assets.defs.jobs import build_jobs
from polymath_assets.defs.partitions import shard_partitions
from polymath_assets.defs.passages import pending_passages_asset
from polymath_assets.defs.placement import executor_for
from polymath_assets.defs.quality import qc_report_asset
from polymath_assets.defs.resources import resources_for
from polymath_assets.defs.settings import load_config


def build_assets(config: Config) -> list[dg.AssetsDefinition]:
    shards = shard_partitions(config.shard_count)
    return [pending_passages_asset(shards), gemini_batch_jobs_asset(shards), passage_concepts_asset(shards),
            passage_embeddings_asset(shards), canonical_concepts_asset(), neo4j_concept_graph_asset(shards),
            qc_report_asset()]


def build_definitions(config: Config) -> dg.Definitions:
    with warnings.catch_warnings():
        # Chosen knowingly (single-run backfill policies, Dagster's own sensor arguments);
        # the beta notices would print on every command and every code-location load.
        warnings.simplefilter("ignore", dg.BetaWarning)
        assets = build_assets(config)
        jobs, sensors = build_jobs(config, assets)
    return dg.Definitions(assets=assets, jobs=jobs, sensors=sensors, resources=resources_for(config),
                          executor=executor_for(config))


defs = build_definitions(load_config())
