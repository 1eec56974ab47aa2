"""Writers of the same tables as real OS processes at the same moment: two resolver runs,
a resolver run and an operator's merge, two ingests of one corpus.

Each test makes the race certain instead of likely: the test's own transaction holds a
row the processes must write (an uncommitted alias or document with the same key), so
every process gets as far as it can and waits there; only when all of them are seen
waiting in ``pg_stat_activity`` is that transaction rolled back and they go on together.
Whatever serializes them (the resolver's and the ingest's advisory locks) must then decide
who writes what."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from polymath_assets.concepts import pipeline
from polymath_assets.concepts.resolver import ResolverSettings
from polymath_assets.config import Config

from .test_concepts_db import PASSAGES, load_passages

DIM = 384
ROOT = Path(__file__).resolve().parents[1]
ENV = {"POLYMATH_EMBEDDING_MODEL": "packaged-minilm", "POLYMATH_EMBEDDING_DIM": str(DIM),
       "POLYMATH_EMBEDDING_DEVICE": "cpu"}
SURFACES = len({(name, type_) for _, concepts in PASSAGES for name, type_ in concepts})
NEW_SURFACE = ("Long Short-Term Memories", "method")  # same key as "long short-term memory"


@pytest.fixture
def dsn384(dsn384):
    """The 384-d database of conftest with the PASSAGES of test_concepts_db loaded."""
    with psycopg.connect(dsn384) as conn:
        load_passages(conn)
    return dsn384


def spawn(dsn: str, app: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    """``polymath ARGS`` as its own process; its connections are named ``app`` (PGAPPNAME)."""
    env = {**os.environ, **(ENV if env is None else env), "POSTGRES_DSN": dsn, "PGAPPNAME": app, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "polymath_assets.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until_waiting(conn, app: str, count: int, procs: list[subprocess.Popen], timeout_s: float = 180) -> int:
    """Until ``count`` connections named ``app`` wait on a lock, or one of ``procs`` has
    exited (it did not wait: what it wrote is judged afterwards). Returns the number seen."""
    deadline = time.monotonic() + timeout_s
    while True:
        waiting = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                               "AND wait_event_type = 'Lock'", (app,)).fetchone()[0]
        if waiting >= count or any(p.poll() is not None for p in procs):
            return waiting
        assert time.monotonic() < deadline, f"{app}: {waiting} of {count} processes waiting after {timeout_s}s"
        time.sleep(0.1)


def finish(procs: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        outcomes.append((proc.returncode, out, err))
    return outcomes


def hold_alias(conn, surface: str, type_: str) -> None:
    """The barrier: an uncommitted alias the resolver's INSERT ... ON CONFLICT must wait for."""
    cid = conn.execute("INSERT INTO concepts (preferred_name, concept_type) VALUES ('barrier', %s) "
                       "RETURNING concept_id", (type_,)).fetchone()[0]
    conn.execute("INSERT INTO concept_aliases (surface, concept_type, concept_id, norm_key, stage, resolver_version) "
                 "VALUES (%s, %s, %s, 'barrier', 'new', 'barrier')", (surface, type_, cid))


def unaliased(conn) -> int:
    return conn.execute("""SELECT count(*) FROM (SELECT DISTINCT concept_name, concept_type FROM passage_concepts) s
                           WHERE NOT EXISTS (SELECT 1 FROM concept_aliases a WHERE a.surface = s.concept_name
                                             AND a.concept_type = s.concept_type)""").fetchone()[0]


@pytest.mark.slow
def test_two_resolver_runs_at_once_create_each_concept_once(dsn384):
    with psycopg.connect(dsn384) as conn:
        # passages scanned for acronyms already (as by an earlier run): otherwise the second run
        # would wait for the first one's scan rows, and the test would not show the lock's work
        assert pipeline.scan_acronyms(conn, dominance=0.8)[0] == len(PASSAGES)
        conn.commit()
    with psycopg.connect(dsn384) as barrier, psycopg.connect(dsn384, autocommit=True) as watch:
        hold_alias(barrier, "CNN", "method")
        runs = [spawn(dsn384, "polymath-run", "concepts", "run") for _ in range(2)]
        # one run waits at the barrier; the other behind it (on the resolver lock, or at the barrier too)
        assert wait_until_waiting(watch, "polymath-run", 2, runs) == 2, finish(runs)
        barrier.rollback()
    outcomes = finish(runs)
    assert [code for code, _, _ in outcomes] == [0, 0], outcomes
    printed = sorted(out.split(",")[0] for _, out, _ in outcomes)
    assert printed == ["resolved 0 surfaces", f"resolved {SURFACES} surfaces"], outcomes

    with psycopg.connect(dsn384) as conn:
        assert unaliased(conn) == 0
        # a concept founded twice would leave one without aliases (its aliases lost the race)
        # or two founders for one key
        assert conn.execute("SELECT count(*) FROM concepts c WHERE NOT EXISTS "
                            "(SELECT 1 FROM concept_aliases a WHERE a.concept_id = c.concept_id)").fetchone()[0] == 0
        founders = conn.execute("""SELECT norm_key, lower(concept_type), count(DISTINCT concept_id)
                                   FROM concept_aliases WHERE stage = 'new' GROUP BY 1, 2
                                   HAVING count(DISTINCT concept_id) > 1""").fetchall()
        assert founders == []
        runs_logged = conn.execute("""SELECT surfaces, concepts_created, started_at, finished_at
                                      FROM concept_resolution_runs ORDER BY surfaces""").fetchall()
        assert [(s, c > 0) for s, c, _, _ in runs_logged] == [(0, False), (SURFACES, True)]
        (_, _, idle_start, idle_end), (_, _, work_start, work_end) = runs_logged
        assert work_end <= idle_start or idle_end <= work_start, runs_logged  # one after the other


def aliases_of(conn, surfaces: list[tuple[str, str]]) -> dict:
    rows = conn.execute("SELECT surface, concept_type, concept_id, pinned FROM concept_aliases "
                        "WHERE (surface, concept_type) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
                        ([s for s, _ in surfaces], [t for _, t in surfaces])).fetchall()
    return {(s, t): (cid, pinned) for s, t, cid, pinned in rows}


@pytest.mark.slow
@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
def test_a_merge_during_a_resolver_run_is_kept(dsn384, minilm_names, full):
    """The run is held after it decided (and, with --full, after it forgot every unpinned
    alias); the operator merges LSTM into CNN meanwhile. After both, every surface of
    LSTM, the new one the run resolved included, is CNN's and pinned."""
    settings = ResolverSettings.from_config(Config.from_env({"POLYMATH_EMBEDDING_MODEL": "packaged-minilm"}))
    with psycopg.connect(dsn384) as conn:
        pipeline.resolve_corpus(conn, minilm_names.encode, settings)
        lstm = conn.execute("SELECT concept_id FROM concept_aliases WHERE surface = 'LSTM'").fetchone()[0]
        lstm_surfaces = conn.execute("SELECT surface, concept_type FROM concept_aliases WHERE concept_id = %s",
                                     (lstm,)).fetchall()
        pid = conn.execute("SELECT passage_id FROM passages LIMIT 1").fetchone()[0]
        conn.execute("""INSERT INTO passage_concepts (passage_id, concept_name, concept_type, confidence,
                        extractor_version) VALUES (%s, %s, %s, 0.9, 'llm_v2')""", (pid, *NEW_SURFACE))
        conn.commit()
    assert len(lstm_surfaces) == 3

    with psycopg.connect(dsn384) as barrier, psycopg.connect(dsn384, autocommit=True) as watch:
        hold_alias(barrier, *NEW_SURFACE)
        run = spawn(dsn384, "polymath-run", "concepts", "run", *(["--full"] if full else []))
        assert wait_until_waiting(watch, "polymath-run", 1, [run]) == 1, finish([run])
        merge = spawn(dsn384, "polymath-merge", "concepts", "merge", "LSTM", "CNN", "--note", "during a run")
        wait_until_waiting(watch, "polymath-merge", 1, [merge])
        barrier.rollback()
    outcomes = finish([run, merge])
    assert [code for code, _, _ in outcomes] == [0, 0], outcomes
    assert "waiting for the resolver run in progress to finish" in outcomes[1][2], outcomes[1]
    assert "Traceback" not in outcomes[1][2]

    with psycopg.connect(dsn384) as conn:
        assert unaliased(conn) == 0
        cnn = conn.execute("SELECT concept_id FROM concept_aliases WHERE surface = 'CNN'").fetchone()[0]
        moved = aliases_of(conn, [*lstm_surfaces, NEW_SURFACE])
        assert moved == {k: (cnn, True) for k in [*lstm_surfaces, NEW_SURFACE]}, moved
        # no alias was left on (or resolved into) a concept that was merged away
        assert conn.execute("SELECT count(*) FROM concept_aliases a JOIN concepts c USING (concept_id) "
                            "WHERE c.merged_into IS NOT NULL").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM concept_merges WHERE kind = 'merge' AND to_concept = %s",
                            (cnn,)).fetchone()[0] == 1


# --- ingest --------------------------------------------------------------------------------

DOC = "00000000-0000-4000-8000-0000000000d1"


def corpus(path: Path, text: str, passages: int = 5) -> Path:
    rows = [{"kind": "document", "doc_id": DOC, "title": "Concurrent", "year": 2024}]
    rows += [{"kind": "passage", "passage_id": str(uuid.UUID(int=i)), "doc_id": DOC,
              "passage_text": f"{text} {i}."} for i in range(1, passages + 1)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def two_ingests(kb_dsn: str, first: Path, second: Path) -> list[tuple[int, str, str]]:
    """Both files ingested by their own process at once, held at the document row until
    both have loaded and checked their file as far as they can."""
    with psycopg.connect(kb_dsn) as barrier, psycopg.connect(kb_dsn, autocommit=True) as watch:
        barrier.execute("INSERT INTO documents (doc_id, title) VALUES (%s, 'barrier')", (DOC,))
        procs = [spawn(kb_dsn, "polymath-ingest", "ingest", str(path), env={}) for path in (first, second)]
        assert wait_until_waiting(watch, "polymath-ingest", 2, procs) == 2, finish(procs)
        barrier.rollback()
    return finish(procs)


def stored(conn) -> tuple:
    return conn.execute("""SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM passages),
                                  (SELECT array_agg(DISTINCT split_part(passage_text, ' ', 1)) FROM passages)""").fetchone()


def test_two_ingests_of_one_file_at_once_store_it_once(kb_dsn, tmp_path):
    path = corpus(tmp_path / "corpus.jsonl", "Same")
    outcomes = two_ingests(kb_dsn, path, path)
    assert [code for code, _, _ in outcomes] == [0, 0], outcomes
    summaries = sorted(out.strip() for _, out, _ in outcomes)
    assert summaries == sorted([f"{path}: documents 1 in file, 1 added, 0 already present; "
                                f"passages 5 in file, 5 added, 0 already present",
                                f"{path}: documents 1 in file, 0 added, 1 already present; "
                                f"passages 5 in file, 0 added, 5 already present"]), outcomes
    with psycopg.connect(kb_dsn) as conn:
        assert stored(conn) == (1, 5, ["Same"])


def test_two_ingests_with_other_text_for_one_passage_load_one_and_reject_the_other(kb_dsn, tmp_path):
    """Checked one after the other, the second file meets the first one's passages with
    other text: rejected, as it would be if it came later (not dropped in silence)."""
    outcomes = two_ingests(kb_dsn, corpus(tmp_path / "a.jsonl", "Alpha"), corpus(tmp_path / "b.jsonl", "Beta"))
    assert sorted(code for code, _, _ in outcomes) == [0, 1], outcomes
    winner = "Alpha" if outcomes[0][0] == 0 else "Beta"
    _, _, loser_err = outcomes[1] if winner == "Alpha" else outcomes[0]
    assert "already stored with different text" in loser_err and "nothing was loaded" in loser_err, loser_err
    assert "Traceback" not in loser_err
    with psycopg.connect(kb_dsn) as conn:
        assert stored(conn) == (1, 5, [winner])
