"""Shared pieces of the extraction tests."""

import json
import os
import subprocess
import sys
from pathlib import Path

from polymath_assets.config import Config
from polymath_assets.corpus.ingest import ingest_file
from polymath_assets.extraction.runner import ExtractionSettings

SAMPLE = Path(__file__).parents[1] / "sample_corpus" / "corpus.jsonl"


def load_sample(conn) -> int:
    result = ingest_file(conn, SAMPLE)
    conn.commit()
    return result.passages_in_file


def settings(tmp_path: Path, **env) -> ExtractionSettings:
    return ExtractionSettings.from_config(Config.from_env({"POLYMATH_HOME": str(tmp_path), **env}))


def concept_rows(conn, version="gemini_batch_v1") -> list[tuple]:
    return conn.execute(
        """SELECT passage_id::text, concept_name, concept_type, aliases::text, confidence, evidence::text
           FROM passage_concepts WHERE extractor_version = %s ORDER BY 1, 2""", (version,)).fetchall()


def ledger_states(conn, version="gemini_batch_v1") -> dict[str, int]:
    return dict(conn.execute("SELECT status, count(*) FROM passage_requests WHERE extractor_version = %s "
                             "GROUP BY status", (version,)).fetchall())


def run_cli(home: Path, dsn: str, *args: str, env: dict | None = None, timeout: float = 120):
    full_env = {**os.environ, "POLYMATH_HOME": str(home), "POSTGRES_DSN": dsn,
                "POLYMATH_RUNLOG_DIR": str(home / "runlogs"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "polymath_assets.cli", *args], env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def status_json(home: Path, dsn: str) -> dict:
    return json.loads(run_cli(home, dsn, "status", "--json").stdout)
