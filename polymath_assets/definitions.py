"""The one Definitions object of the code location."""

import dagster as dg

from polymath_assets.defs.concepts import canonical_concepts
from polymath_assets.defs.embeddings import passage_embeddings
from polymath_assets.defs.extraction import gemini_batch_jobs, passage_concepts
from polymath_assets.defs.graph import neo4j_concept_graph
from polymath_assets.defs.jobs import batch_completion_sensor, ingest_concepts, pilot, submit_batches
from polymath_assets.defs.passages import pending_passages
from polymath_assets.defs.quality import qc_report
from polymath_assets.defs.resources import resources_for
from polymath_assets.defs.settings import CONFIG

ASSETS = [pending_passages, gemini_batch_jobs, passage_concepts, passage_embeddings, neo4j_concept_graph, qc_report,
          canonical_concepts]

defs = dg.Definitions(
    assets=ASSETS,
    jobs=[pilot, submit_batches, ingest_concepts],
    sensors=[batch_completion_sensor],
    resources=resources_for(CONFIG),
)
