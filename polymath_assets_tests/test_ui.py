"""The Dagster UI for real: ``dagster-webserver`` on workspace.yaml, queried and driven over
its GraphQL endpoint (definitions, partitions, blocking checks, a pilot run launched from
the webserver), and the asset graph rendered by headless Chromium.

One webserver serves the whole module. Its code location is configured through the
environment (POSTGRES_DSN = a fresh migrated database with the sample corpus, the offline
Gemini emulator, the session's graph server), so it touches nothing of the developer's.
Screenshots go to $POLYMATH_UI_ARTIFACTS or var/ui-artifacts/ (CI keeps them).
"""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest
from PIL import Image

from polymath_assets.local import emulator_service
from polymath_assets.local.state import free_port
from polymath_assets_tests import ui_support as ui
from polymath_assets_tests.conftest import TEMPLATE_DB, _with_database
from polymath_assets_tests.extraction_helpers import ledger_states, load_sample

ASSETS = ["pending_passages", "gemini_batch_jobs", "passage_concepts", "passage_embeddings",
          "neo4j_concept_graph", "qc_report"]
PARTITIONED = [a for a in ASSETS if a != "qc_report"]
SHARDS = [f"shard-{i:03d}" for i in range(64)]
BLOCKING_CHECKS = {
    "passage_concepts": {"evidence_present", "concepts_per_passage", "json_parse_failures", "resume_safety"},
    "passage_embeddings": {"embedding_completeness"},
    "neo4j_concept_graph": {"graph_reconciliation"},
}
JOBS = {"pilot", "submit_batches", "ingest_concepts"}
SENSOR = "batch_completion_sensor"
GROUPS = ["extraction", "enrichment", "quality"]
PILOT_SIZE = 20
SCREEN = (1600, 1000)


@pytest.fixture(scope="module")
def ui_database(pg_server):
    """A migrated database (cloned from the session template) holding the sample corpus,
    shared by the module's webserver; dropped afterwards."""
    name = f"t_ui_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"')
    dsn = _with_database(pg_server, name)
    try:
        with psycopg.connect(dsn) as conn:
            assert load_sample(conn) >= PILOT_SIZE
        yield dsn
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def webserver(ui_database, graph_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("ui")
    home = root / "polymath-home"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(ui.write_dagster_home(root / "dagster-home")),
        "POSTGRES_DSN": ui_database,
        "POLYMATH_OFFLINE": "1",
        "POLYMATH_HOME": str(home),
        "NEO4J_URI": graph_server,
        "POLYMATH_RUNLOG_DIR": str(root / "runlogs"),
        "HF_HUB_OFFLINE": "1",
        "POLYMATH_ENV_FILE": str(root / "no-such-polymath.env"),
    }
    server = ui.Webserver(env, free_port(), root / "webserver.log")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
        emulator_service.stop(home)  # the pilot started it, detached, under this home


def test_instance_launches_runs_without_a_daemon(webserver):
    instance = webserver.client(ui.WORKSPACE_QUERY)["instance"]
    assert instance["runQueuingSupported"] is False, "QueuedRunCoordinator: launched runs would wait for a daemon"
    assert instance["runLauncher"]["name"] == "DefaultRunLauncher"


def test_jobs_and_sensor_are_served(webserver):
    entry = ui.location_entry(webserver.client)
    assert entry["loadStatus"] == "LOADED"
    (repository,) = entry["locationOrLoadError"]["repositories"]
    assert repository["name"] == ui.REPOSITORY
    assert JOBS <= {job["name"] for job in repository["jobs"]}
    sensors = {s["name"]: s["sensorState"]["status"] for s in repository["sensors"]}
    assert SENSOR in sensors, sensors


def test_assets_partitions_and_blocking_checks(webserver):
    nodes = {"/".join(n["assetKey"]["path"]): n for n in webserver.client(ui.ASSETS_QUERY)["assetNodes"]}
    assert set(ASSETS) <= set(nodes), sorted(nodes)
    for name in PARTITIONED:
        assert nodes[name]["isPartitioned"], name
        assert nodes[name]["partitionKeys"] == SHARDS, name
    assert not nodes["qc_report"]["isPartitioned"]
    for name in ASSETS:
        checks_or_error = nodes[name]["assetChecksOrError"]
        assert checks_or_error["__typename"] == "AssetChecks", checks_or_error
        checks = {c["name"]: c["blocking"] for c in checks_or_error["checks"]}
        assert set(checks) == BLOCKING_CHECKS.get(name, set()), (name, checks)
        assert all(checks.values()), f"{name}: non-blocking checks {checks}"


def test_pilot_launched_from_the_webserver_succeeds(webserver, ui_database):
    run_config = {"ops": {"run_pilot": {"config": {"size": PILOT_SIZE, "poll_interval_s": 0.2}}}}
    run_id = ui.launch_run(webserver.client, "pilot", run_config)
    status = ui.wait_for_run(webserver.client, run_id, timeout_s=120)
    assert status == "SUCCESS", (f"pilot run {run_id} ended {status}:\n{ui.run_errors(webserver.client, run_id)}"
                                 f"\n--- webserver log ---\n{webserver.log_tail()}")
    with psycopg.connect(ui_database) as conn:
        assert ledger_states(conn) == {"done": PILOT_SIZE}


def test_asset_graph_renders_in_chromium(webserver, tmp_path):
    if ui.chromium_path() is None:
        pytest.fail(ui.CHROMIUM_MISSING.format(path=ui.CHROMIUM), pytrace=False)
    artifacts = ui.artifacts_dir()

    # The extraction group's lineage: its three assets as full nodes, the other three as
    # links to the groups downstream, so every asset name is rendered in full.
    group_page = ui.group_url(webserver.url, "extraction")
    dom = ui.dump_dom(group_page, tmp_path / "profile", SCREEN)
    missing = [name for name in ASSETS if name not in dom]
    assert not missing, f"asset names not rendered at {group_page}: {missing}\n{dom[-3000:]}"
    assert "64 partitions" in dom
    assert "Join the Dagster community" not in dom
    shot = ui.screenshot(group_page, artifacts / "asset_graph.png", tmp_path / "profile", SCREEN)

    # The global lineage with every group expanded: the whole graph (zoomed out, so long
    # names are shortened in the middle; the group boxes carry their names).
    lineage_page = ui.lineage_url(webserver.url, GROUPS)
    dom = ui.dump_dom(lineage_page, tmp_path / "profile", SCREEN)
    assert "Global asset lineage" in dom
    for text in [*GROUPS, "pending_passages", "passage_concepts", "qc_report"]:
        assert text in dom, f"{text!r} not rendered at {lineage_page}"
    lineage_shot = ui.screenshot(lineage_page, artifacts / "asset_lineage.png", tmp_path / "profile", SCREEN)

    for path in (shot, lineage_shot):
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size == SCREEN, (path, image.format, image.size)
            # not a blank page: a rendered graph has many distinct colours
            assert len(image.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 50, path
