"""The Definitions of the code location, built from a Config that is passed in.

``build_definitions(config)`` is what tests call with their own configuration; the
module-level ``defs`` (what ``dagster dev`` / the deployed location load) is built from
the environment, and refuses a production deployment without its servers."""

import dagster as dg

from polymath_assets.config import Config
from polymath_assets.defs.concepts import canonical_concepts
from polymath_assets.defs.embeddings import passage_embeddings
from polymath_assets.defs.extraction import gemini_batch_jobs, passage_concepts
from polymath_assets.defs.graph import neo4j_concept_graph
from polymath_assets.defs.jobs import batch_completion_sensor, ingest_concepts, pilot, submit_batches
from polymath_assets.defs.passages import pending_passages
from polymath_assets.defs.placement import executor_for
from polymath_assets.defs.quality import qc_report
from polymath_assets.defs.resources import resources_for
from polymath_assets.defs.settings import load_config

ASSETS = [pending_passages, gemini_batch_jobs, passage_concepts, passage_embeddings, neo4j_concept_graph, qc_report,
          canonical_concepts]


def build_definitions(config: Config) -> dg.Definitions:
    return dg.Definitions(
        assets=ASSETS,
        jobs=[pilot, submit_batches, ingest_concepts],
        sensors=[batch_completion_sensor],
        resources=resources_for(config),
        executor=executor_for(config),
    )


defs = build_definitions(load_config())
