"""The production stack, checked as a file (no Docker engine here): services, pinned images,
start order, secrets only from .env, ports on 127.0.0.1, and a Dagster instance config that
the installed Dagster accepts."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_pinned_images(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "neo4j", "dagster-init", "code-server", "webserver", "daemon"}
    for name, service in services.items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and re.search(r"\d", tag) and tag != "latest", f"{name}: image {image} is not pinned"
    assert services["postgres"]["image"].startswith("pgvector/pgvector:0.8")
    assert services["neo4j"]["image"].startswith("neo4j:5.") and services["neo4j"]["image"].endswith("-community")


def test_start_order_follows_health(compose):
    deps = {name: s.get("depends_on", {}) for name, s in compose["services"].items()}
    assert deps["dagster-init"] == {"postgres": {"condition": "service_healthy"}}
    assert deps["code-server"]["dagster-init"] == {"condition": "service_completed_successfully"}
    assert deps["code-server"]["neo4j"] == {"condition": "service_healthy"}
    assert deps["webserver"] == deps["daemon"] == {"code-server": {"condition": "service_healthy"}}
    for name in ("postgres", "neo4j", "code-server", "webserver", "daemon"):
        assert "healthcheck" in compose["services"][name], f"{name} has no health check"


def test_init_migrates_and_limits_the_gpu_pool_and_the_code_server_gets_the_gpu(compose):
    init = " ".join(compose["services"]["dagster-init"]["command"])
    assert "dagster instance migrate" in init and "dagster instance concurrency set gpu 1" in init
    assert "polymath migrate" in init  # the knowledge-base schema is migrated once, here, not by each process
    devices = compose["services"]["code-server"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]


def test_ports_bind_to_loopback_only(compose):
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_every_variable_is_in_env_example_and_no_secret_is_committed(compose):
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    example = dict(line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    assert used <= set(example), f"missing from .env.example: {used - set(example)}"
    for secret in ("POSTGRES_PASSWORD", "NEO4J_PASSWORD", "GEMINI_API_KEY"):
        assert example[secret] == "", f"{secret} must stay empty in .env.example"
        assert f"{secret}:?" in text or f"{secret}:-" in text


def test_workspace_for_compose_points_at_the_code_server(compose):
    workspace = yaml.safe_load((ROOT / "deploy" / "workspace.compose.yaml").read_text())
    server = workspace["load_from"][0]["grpc_server"]
    command = compose["services"]["code-server"]["command"]
    assert server["host"] == "code-server" and str(server["port"]) == command[command.index("-p") + 1]
    local = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    assert local["load_from"][0]["python_module"]["module_name"] == "polymath_assets.definitions"


def test_production_instance_config_is_valid_for_the_installed_dagster(monkeypatch, tmp_path):
    from dagster._core.instance.config import dagster_instance_config

    for name in ("DAGSTER_PG_HOST", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"):
        monkeypatch.setenv(name, "x")
    (tmp_path / "dagster.yaml").write_text((ROOT / "deploy" / "dagster.yaml").read_text())
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert {"key": "dagster/backfill", "limit": 4} in config["concurrency"]["runs"]["tag_concurrency_limits"]
    assert config["run_retries"]["enabled"] is True
    assert config["retention"]["schedule"]["purge_after_days"] == 90
