"""The asset graph as Dagster sees it: a snapshot of names, dependencies and partitions."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from polymath_assets.config import Config, ConfigError
from polymath_assets.definitions import build_definitions, defs
from polymath_assets.defs.settings import load_config
from polymath_assets.defs.snapshot import graph_snapshot

EXPECTED_DEPS = {
    "pending_passages": set(),
    "gemini_batch_jobs": {"pending_passages"},
    "passage_concepts": {"gemini_batch_jobs"},
    "passage_embeddings": {"passage_concepts"},
    "neo4j_concept_graph": {"passage_concepts", "passage_embeddings", "canonical_concepts"},
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


def test_the_model_users_run_in_the_gpu_pool():
    """passage_embeddings and canonical_concepts both load the embedding model: one at a time."""
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("passage_embeddings")).pools == {"gpu"}
    assert graph.get(dg.AssetKey("canonical_concepts")).pools == {"gpu"}


def test_the_partitions_follow_the_config_passed_in():
    graph = build_definitions(Config.from_env({"POLYMATH_SHARD_COUNT": "8"})).resolve_asset_graph()
    for name in ("pending_passages", "gemini_batch_jobs", "passage_concepts", "passage_embeddings",
                 "neo4j_concept_graph"):
        assert graph.get(dg.AssetKey(name)).partitions_def.get_partition_keys() == [f"shard-{i:03d}" for i in range(8)]


def test_submission_covers_a_whole_backfill_in_one_run():
    graph = defs.resolve_asset_graph()
    for name in ("pending_passages", "gemini_batch_jobs"):
        assert graph.get(dg.AssetKey(name)).backfill_policy == dg.BackfillPolicy.single_run()


def test_resources_are_wired():
    assert set(defs.resources) >= {"postgres", "graph", "gemini"}


def test_jobs_and_the_sensor_are_registered():
    assert {"pilot", "submit_batches", "ingest_concepts", "settle_shards"} <= {j.name for j in defs.jobs}
    sensor = defs.resolve_sensor_def("batch_completion_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert {j.name for j in sensor.jobs} == {"submit_batches", "settle_shards"}


SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.txt"
UPDATE_ENV = "POLYMATH_UPDATE_SNAPSHOT"


def test_the_asset_graph_matches_its_committed_snapshot():
    """A change to assets, checks, partitions, automation or descriptions shows as a diff of
    snapshots/asset_graph.txt. After an intended change regenerate it with
    `POLYMATH_UPDATE_SNAPSHOT=1 pytest polymath_assets_tests/test_definitions.py -k snapshot`."""
    found = graph_snapshot(build_definitions(Config.from_env({})))
    if os.environ.get(UPDATE_ENV) == "1":
        SNAPSHOT.write_text(found)
    assert SNAPSHOT.exists(), f"no snapshot yet: run with {UPDATE_ENV}=1"
    assert found == SNAPSHOT.read_text(), f"the asset graph changed; if intended, regenerate with {UPDATE_ENV}=1"


def test_definitions_are_built_from_the_config_passed_in():
    config = Config.from_env({"POLYMATH_HOME": "/srv/polymath-test"})
    built = build_definitions(config)
    assert built.resources["postgres"].config() is config and built.resources["gemini"].config() is config


@pytest.mark.parametrize("environ, missing", [
    ({"POLYMATH_ENV": "production"}, "POSTGRES_DSN and NEO4J_URI are not set"),
    ({"POLYMATH_ENV": "production", "NEO4J_URI": "bolt://graph:7687"}, "POSTGRES_DSN is not set"),
    ({"DAGSTER_CLOUD_DEPLOYMENT_NAME": "prod", "POSTGRES_DSN": "postgresql://db/kb"}, "NEO4J_URI is not set"),
])
def test_a_deployed_location_without_its_servers_fails_to_load(environ, missing):
    with pytest.raises(ConfigError, match=missing):
        load_config(environ)


def test_production_with_its_servers_and_local_by_default_load():
    assert load_config({"POLYMATH_ENV": "production", "POSTGRES_DSN": "postgresql://db/kb",
                        "NEO4J_URI": "bolt://graph:7687"}).deployment == "production"
    assert load_config({}).deployment == "local"
    with pytest.raises(ConfigError, match="POLYMATH_ENV='staging'"):
        load_config({"POLYMATH_ENV": "staging"})


def test_a_deployed_code_location_without_postgres_refuses_to_load_in_a_real_process(tmp_path):
    """What `dagster dev` / the code server do: import polymath_assets.definitions."""
    env = {k: v for k, v in os.environ.items() if k not in ("POSTGRES_DSN", "NEO4J_URI")}
    result = subprocess.run([sys.executable, "-c", "import polymath_assets.definitions"], cwd=tmp_path,
                            env={**env, "POLYMATH_ENV": "production"}, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "POSTGRES_DSN and NEO4J_URI are not set" in result.stderr
    assert not (tmp_path / "var").exists()  # no embedded server was started
