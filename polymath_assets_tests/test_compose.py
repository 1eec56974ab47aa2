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


# ---- first boot ------------------------------------------------------------------------------

DAGSTER_SERVICES = ("code-server", "webserver", "daemon")


def _environment(service: dict) -> dict[str, str]:
    """A service's environment with the compose file's ${VAR...} references filled in."""
    env = service["environment"]
    return {name: re.sub(r"\$\{([A-Z_]+)[^}]*\}", lambda m: f"<{m[1]}>", str(value)) for name, value in env.items()}


def _mounts(service: dict) -> dict[str, str]:
    """Container path -> named volume (bind mounts left out)."""
    found = {}
    for entry in service.get("volumes", []):
        source, target = entry.split(":")[:2]
        if not source.startswith((".", "/")):
            found[target] = source
    return found


def _volume_holding(service: dict, path: str) -> tuple[str, str] | None:
    """(named volume, its mount point) under which ``path`` lies in this service."""
    for target, volume in _mounts(service).items():
        if path == target or path.startswith(target.rstrip("/") + "/"):
            return volume, target
    return None


def test_postgres_is_healthy_only_once_it_answers_over_tcp(compose):
    """During init the image's temporary server listens on the socket only: a check
    without -h says ready too early and dagster-init's migration fails."""
    check = " ".join(compose["services"]["postgres"]["healthcheck"]["test"])
    assert "pg_isready -h 127.0.0.1" in check


def test_the_embedding_model_is_cached_on_a_volume(compose):
    for name in ("code-server", "daemon"):  # where steps and sensors run (runs launch in the code server)
        service = compose["services"][name]
        hf_home = _environment(service).get("HF_HOME")
        assert hf_home, f"{name}: HF_HOME unset, BGE-M3 would be downloaded into the container again"
        assert _volume_holding(service, hf_home), f"{name}: HF_HOME={hf_home} is not on a mounted volume"


def test_step_logs_are_written_and_read_on_one_shared_volume(compose, monkeypatch, tmp_path):
    from dagster._core.instance.config import dagster_instance_config

    for name in ("DAGSTER_PG_HOST", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"):
        monkeypatch.setenv(name, "x")
    (tmp_path / "dagster.yaml").write_text((ROOT / "deploy" / "dagster.yaml").read_text())
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["compute_logs"]["class"] == "LocalComputeLogManager"
    for kind, path in (("compute logs", config["compute_logs"]["config"]["base_dir"]),
                       ("artifacts", config["local_artifact_storage"]["config"]["base_dir"])):
        holders = {name: _volume_holding(compose["services"][name], path) for name in DAGSTER_SERVICES}
        assert all(holders.values()), f"{kind} at {path}: not on a volume in {holders}"
        assert len(set(holders.values())) == 1, f"{kind}: the services see different storage: {holders}"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY deploy/dagster.yaml /opt/dagster/home/dagster.yaml" in dockerfile  # the config the images use


def test_the_gemini_key_is_required_and_the_stack_declares_itself_production(compose):
    from polymath_assets.config import Config, ConfigError

    text = (ROOT / "docker-compose.yml").read_text()
    assert "${GEMINI_API_KEY:?" in text and "GEMINI_API_KEY:-" not in text
    for name in ("dagster-init", *DAGSTER_SERVICES):
        env = _environment(compose["services"][name])
        assert env["POLYMATH_ENV"] == "production", name
        config = Config.from_env(env)
        assert config.deployment == "production" and config.check_deployable() is config
        with pytest.raises(ConfigError, match="NEO4J_URI"):  # the deployable check is really on
            Config.from_env({**env, "NEO4J_URI": ""}).check_deployable()
