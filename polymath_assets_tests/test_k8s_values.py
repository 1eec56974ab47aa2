"""deploy/k8s/values.yaml, the values for Dagster's official Helm chart, checked as a file
(no cluster here) against what the code needs: the K8s run launcher, this image as the
user-code deployment, the steps that load the embedding model placed on GPU nodes by
their dagster-k8s/config tags (validated by dagster-k8s itself) under the k8s executor,
the pools limited to 1, Dagster's storage in PostgreSQL, and every secret from a Secret."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from polymath_assets.config import SETTINGS, Config

ROOT = Path(__file__).parents[1]
SECRET_SETTINGS = {s.env for s in SETTINGS if s.secret} | {"POSTGRES_DSN", "NEO4J_URI", "GOOGLE_API_KEY"}


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load((ROOT / "deploy" / "k8s" / "values.yaml").read_text())


@pytest.fixture(scope="module")
def deployment(values) -> dict:
    user = values["dagster-user-deployments"]
    assert user["enabled"] and user["enableSubchart"]
    (found,) = user["deployments"]
    return found


def test_runs_are_kubernetes_jobs_and_steps_too(values, deployment):
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert deployment["env"]["POLYMATH_EXECUTOR"] == "k8s"
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}


def test_the_user_code_deployment_serves_this_image_and_module(deployment):
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert deployment["image"]["repository"] == compose["services"]["code-server"]["image"].split(":")[0]
    args = deployment["dagsterApiGrpcArgs"]
    module = args[args.index("-m") + 1]
    assert module == "polymath_assets.definitions"
    assert module in compose["services"]["code-server"]["command"]


def test_secrets_come_from_kubernetes_secrets_only(values, deployment):
    assert not SECRET_SETTINGS & set(deployment["env"]), "a secret or server address set in plain values"
    assert {"name": "polymath-secrets"} in deployment["envSecrets"]
    assert {"name": "polymath-secrets"} in values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]
    # The header says what the Secret must hold.
    lines = (ROOT / "deploy" / "k8s" / "values.yaml").read_text().splitlines()
    header = " ".join(line for line in lines[:next(i for i, line in enumerate(lines) if not line.startswith("#"))])
    for name in ("POSTGRES_DSN", "NEO4J_URI", "NEO4J_PASSWORD", "GEMINI_API_KEY", "postgresql-password"):
        assert name in header, name


def test_the_deployment_environment_loads_as_production_with_the_k8s_executor(deployment):
    from dagster_k8s import k8s_job_executor

    from polymath_assets.definitions import build_definitions

    secrets = {"POSTGRES_DSN": "postgresql://u:p@db/polymath", "NEO4J_URI": "neo4j://neo4j:7687",
               "NEO4J_PASSWORD": "x", "GEMINI_API_KEY": "x"}
    config = Config.from_env({**deployment["env"], **secrets}).check_deployable()
    assert (config.deployment, config.executor) == ("production", "k8s")
    assert build_definitions(config).executor is k8s_job_executor
    assert build_definitions(Config.from_env({})).executor is None  # one machine: Dagster's multiprocess default


def test_files_and_the_model_cache_live_on_the_shared_volume(deployment):
    (mount,) = deployment["volumeMounts"]
    (volume,) = deployment["volumes"]
    assert mount["name"] == volume["name"] and volume["persistentVolumeClaim"]["claimName"]
    for name in ("POLYMATH_HOME", "HF_HOME", "POLYMATH_RUNLOG_DIR"):
        assert deployment["env"][name].startswith(mount["mountPath"].rstrip("/") + "/") or \
            deployment["env"][name] == mount["mountPath"], name


def test_steps_that_load_the_embedding_model_ask_for_a_gpu_node():
    """Every asset that needs the embedder resource carries dagster-k8s/config tags that
    dagster-k8s accepts, asking for one GPU and tolerating the GPU nodes' taint; no other does.
    The settle run, which executes every ready shard's chain (model included) in its own
    pod, asks for the GPU at the run level."""
    from dagster_k8s.job import get_user_defined_k8s_config

    from polymath_assets.definitions import defs

    ASSETS = list(defs.assets)
    settle = get_user_defined_k8s_config(defs.resolve_job_def("settle_shards").tags)
    assert settle.container_config["resources"]["limits"] == {"nvidia.com/gpu": "1"}

    loaders = {a.op.name for a in ASSETS if "embedder" in a.required_resource_keys}
    assert loaders == {"passage_embeddings", "canonical_concepts"}
    for asset in ASSETS:
        k8s = get_user_defined_k8s_config(asset.op.tags)
        limits = (k8s.container_config.get("resources") or {}).get("limits", {})
        if asset.op.name in loaders:
            assert limits == {"nvidia.com/gpu": "1"}, asset.op.name
            assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in \
                k8s.pod_spec_config["tolerations"]
        else:
            assert "nvidia.com/gpu" not in limits, f"{asset.op.name} would hold a GPU node for nothing"


def test_every_pool_is_limited_to_one_step(values):
    from polymath_assets.definitions import defs

    pools = set().union(*(node.pools for node in defs.resolve_asset_graph().asset_nodes))
    assert pools == {"gpu", "graph"}
    concurrency = values["concurrency"]
    assert concurrency["enabled"] and concurrency["pools"]["defaultLimit"] == 1  # the chart sets no per-pool limit
    assert {"key": "dagster/backfill", "limit": 4} in concurrency["runs"]["tagConcurrencyLimits"]


def test_dagster_storage_is_the_external_postgresql(values):
    pg = values["postgresql"]
    assert pg["enabled"] is False and pg["postgresqlHost"] and pg["postgresqlDatabase"] == "dagster"
    assert pg["postgresqlPassword"] == "" and values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"] == "dagster-postgresql-secret"
    assert values["dagsterDaemon"]["runRetries"] == {"enabled": True, "maxRetries": 2}
