"""`polymath run --offline` on real abstracts (SciERC), through the real command: the offline
extractor finds enough concepts in real text for the concepts-per-passage gate, and when a
gate does hold shards back the operator is told that the emulator is not a language model."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from polymath_assets.local import emulator_service
from polymath_assets.operations.extraction import OFFLINE_GATE_HINT
from polymath_assets_tests.real_text import write_scierc_corpus

ABSTRACTS = 120  # four shards of about 30 passages: enough for the gate, lean on 2 cores
SHARDS = 4


@pytest.mark.slow
def test_offline_run_on_real_abstracts_passes_the_concepts_gate(new_database, graph, graph_server, tmp_path):
    env = {**os.environ, "POSTGRES_DSN": new_database(), "NEO4J_URI": graph_server,
           "POLYMATH_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(tmp_path / "dagster"),
           "POLYMATH_RUNLOG_DIR": str(tmp_path / "runlogs"), "POLYMATH_SHARD_COUNT": str(SHARDS),
           "POLYMATH_EMBEDDING_MODEL": "packaged-minilm", "POLYMATH_EMBEDDING_DIM": "384",
           "POLYMATH_EMBEDDING_DEVICE": "cpu"}

    def polymath(*args: str, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "polymath_assets.cli", *args], env={**env, **extra},
                              capture_output=True, text=True, timeout=600)

    try:
        migrated = polymath("migrate")  # a new database: the schema is made once, explicitly
        assert migrated.returncode == 0, migrated.stderr
        ingested = polymath("ingest", str(write_scierc_corpus(tmp_path / "scierc.jsonl", ABSTRACTS)))
        assert ingested.returncode == 0, ingested.stderr
        assert f"passages {ABSTRACTS} in file, {ABSTRACTS} added" in ingested.stdout

        run = polymath("run", "--offline")
        lines = run.stdout.splitlines()
        shard_lines = [line for line in lines if line.startswith("shard-")]
        assert len(shard_lines) == SHARDS, run.stdout + run.stderr[-3000:]
        assert all(line.endswith(": ok") for line in shard_lines), run.stdout + run.stderr[-3000:]
        gate = next(line for line in lines if line.strip().startswith("concepts per passage"))
        assert "PASS" in gate
        assert 4 <= float(gate.split("mean ")[1].split()[0]) <= 14, gate
        assert run.returncode == 0 and OFFLINE_GATE_HINT not in run.stdout

        # A stricter gate holds every shard back: the message says the emulator is no model.
        strict = polymath("run", "--offline", POLYMATH_GATE_CONCEPTS_MIN="13")
        assert strict.returncode == 1
        assert strict.stdout.count("held back (") == SHARDS, strict.stdout
        assert OFFLINE_GATE_HINT in strict.stdout
    finally:
        emulator_service.stop(tmp_path / "home")


def test_pilot_held_back_under_the_emulator_says_it_is_no_model(kb, kb_dsn, tmp_path):
    from polymath_assets_tests.extraction_helpers import load_sample, run_cli

    load_sample(kb)
    try:
        pilot = run_cli(tmp_path, kb_dsn, "pilot", "--offline", "--size", "20", "--poll-interval", "0.1",
                        env={"POLYMATH_GATE_CONCEPTS_MIN": "13"})
        assert pilot.returncode == 1, pilot.stderr  # a failed gate is a failed command
        assert "FAIL  concepts per passage" in pilot.stdout
        assert OFFLINE_GATE_HINT in pilot.stdout
    finally:
        emulator_service.stop(tmp_path)
