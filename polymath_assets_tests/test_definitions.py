"""The asset graph as Dagster sees it: a snapshot of names, dependencies and partitions."""

import dagster as dg

from polymath_assets.definitions import defs

EXPECTED_DEPS = {
    "pending_passages": set(),
    "gemini_batch_jobs": {"pending_passages"},
    "passage_concepts": {"gemini_batch_jobs"},
    "passage_embeddings": {"passage_concepts"},
    "neo4j_concept_graph": {"passage_concepts", "passage_embeddings"},
    "qc_report": {"passage_concepts", "neo4j_concept_graph"},
    "canonical_concepts": {"passage_concepts"},
}


def test_the_assets_with_their_dependencies():
    graph = defs.resolve_asset_graph()
    found = {key.to_user_string(): {d.to_user_string() for d in graph.get(key).parent_keys}
             for key in graph.get_all_asset_keys()}
    assert found == EXPECTED_DEPS


def test_passage_assets_are_partitioned_by_64_shards_and_the_report_is_not():
    graph = defs.resolve_asset_graph()
    for name in EXPECTED_DEPS:
        partitions = graph.get(dg.AssetKey(name)).partitions_def
        if name in ("qc_report", "canonical_concepts"):
            assert partitions is None
        else:
            keys = partitions.get_partition_keys()
            assert len(keys) == 64 and keys[0] == "shard-000" and keys[-1] == "shard-063"


def test_embeddings_run_in_the_gpu_pool():
    node = defs.resolve_asset_graph().get(dg.AssetKey("passage_embeddings"))
    assert node.pools == {"gpu"}


def test_resources_are_wired():
    assert set(defs.resources) >= {"postgres", "graph", "gemini"}


def test_jobs_and_the_sensor_are_registered():
    assert {"pilot", "submit_batches", "ingest_concepts"} <= {j.name for j in defs.jobs}
    sensor = defs.get_sensor_def("batch_completion_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert {j.name for j in sensor.jobs} == {"submit_batches", "ingest_concepts"}
