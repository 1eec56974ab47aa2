"""The repair lane on real text: shards held back by the evidence gate because the model's
spans could not be located (the emulator's unlocatable_share fault) are repaired to
passing in one round that pays only for the affected passages; running it again, or in
two processes at once, pays nothing more and changes nothing. A failed request is
extraction's to retry until it has no attempts left: repair and extraction, one after the
other or at once, never have one passage in two jobs."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from polymath_assets.corpus.ingest import ingest_file
from polymath_assets.extraction import runner
from polymath_assets.extraction.requests import fixed_prompt_chars
from polymath_assets.gemini.emulator import Faults
from polymath_assets.kb import repair as repair_sql
from polymath_assets.kb.quality import LOCATED_QUOTE, extraction_metrics
from polymath_assets.local import emulator_service
from polymath_assets.operations.extraction import drive
from polymath_assets.operations.repair import REPAIR_INSTRUCTION, repair
from polymath_assets.qc.gates import Thresholds, evaluate
from polymath_assets_tests.extraction_helpers import run_cli, settings
from polymath_assets_tests.real_text import write_scierc_corpus as scierc_corpus

ABSTRACTS, SHARDS = 60, 2
FAULTS = {"unlocatable_share": 0.04, "seed": 3}


@pytest.fixture
def kb2_dsn(migrated_database) -> str:
    """A database sharded in two (a gate per shard of about 30 abstracts)."""
    return migrated_database(embedding_dim=384, shard_count=SHARDS)


@pytest.fixture
def kb2(kb2_dsn):
    import psycopg

    with psycopg.connect(kb2_dsn) as conn:
        yield conn


def unlocated_passages(conn) -> set[str]:
    return {pid for (pid,) in conn.execute(
        f"SELECT DISTINCT c.passage_id::text FROM passage_concepts c WHERE NOT ({LOCATED_QUOTE})")}


def held_back(conn, version="gemini_batch_v1") -> dict[int, list[str]]:
    found = {}
    for shard in range(SHARDS):
        failed = [g.name for g in evaluate(extraction_metrics(conn, version, shard), Thresholds()) if not g.passed]
        if failed:
            found[shard] = failed
    conn.commit()
    return found


def check_offsets(conn) -> None:
    """Every located support holds offsets of a non-empty slice of its passage (verbatim
    for exact ones); an unlocated one holds none."""
    for text, evidence in conn.execute("""SELECT p.passage_text, c.evidence FROM passage_concepts c
                                          JOIN passages p USING (passage_id)"""):
        for support in evidence["support"]:
            start, end = support["start"], support["end"]
            if support["alignment"] == "unaligned":
                assert start is None and end is None, support
                continue
            assert support["alignment"] in ("exact", "normalized", "fuzzy"), support
            assert 0 <= start < end <= len(text) and text[start:end].strip(), support
            if support["alignment"] == "exact":
                assert text[start:end] == support["quote"]


def test_unlocatable_spans_are_repaired_in_one_round_paying_only_for_their_passages(kb2, client, emulator, tmp_path):
    kb = kb2
    ingest_file(kb, scierc_corpus(tmp_path / "scierc.jsonl", ABSTRACTS))
    kb.commit()
    emulator.faults = Faults(**FAULTS)
    s = settings(tmp_path / "home", POLYMATH_SHARD_COUNT=str(SHARDS))
    for shard in range(SHARDS):
        runner.select_shard(kb, s, shard)
    drive(kb, client, s, pilot=False, poll_interval_s=0.05)
    affected = unlocated_passages(kb)
    before = held_back(kb)
    assert before and all(gates == ["evidence present"] for gates in before.values()), before
    rows_before = kb.execute("SELECT count(*) FROM passage_concepts").fetchone()[0]
    jobs_before = len(emulator.job_records())

    result = repair(kb, client, s, max_attempts=2, poll_interval_s=0.05)
    assert result.held_back_before == before and result.passed, result
    assert result.registered == {"unlocated": len(affected), "failed": 0}
    assert result.requests == len(affected) and len(result.job_ids) == 1
    # it paid for the affected passages only: the one repair job holds exactly their keys
    records = emulator.job_records()
    assert len(records) == jobs_before + 1 and "-repair-" in records[-1].display_name
    assert set(records[-1].request_keys) == affected
    spent = kb.execute("""SELECT requests, state, actual_usd > 0 FROM spend_ledger WHERE job_id = %s""",
                       (result.job_ids[0],)).fetchone()
    assert spent == (len(affected), "actual", True)
    assert not unlocated_passages(kb) and not held_back(kb)
    assert result.rows_replaced >= len(affected)
    check_offsets(kb)
    # per passage: the located rows the answer gave, and the listed items that did not come back
    counts = kb.execute("""SELECT sum(concepts_repaired), sum(jsonb_array_length(items)),
                                  bool_and(concepts_repaired + concepts_dropped >= jsonb_array_length(items))
                           FROM repair_requests WHERE status = 'done'""").fetchone()
    assert counts[0] == result.rows_loaded and counts[1] >= len(affected) and counts[2], counts
    rows_after = kb.execute("SELECT count(*), sum(length(evidence::text)) FROM passage_concepts").fetchone()

    again = repair(kb, client, s, max_attempts=2, poll_interval_s=0.05)
    assert again.registered == {"unlocated": 0, "failed": 0} and not again.job_ids and again.passed
    assert len(emulator.job_records()) == jobs_before + 1
    assert kb.execute("SELECT count(*), sum(length(evidence::text)) FROM passage_concepts").fetchone() == rows_after
    assert rows_after[0] <= rows_before


def test_dead_passages_are_asked_again_by_the_repair_round(kb2, client, emulator, tmp_path):
    kb = kb2
    ingest_file(kb, scierc_corpus(tmp_path / "scierc.jsonl", 20))
    kb.commit()
    emulator.faults = Faults(malformed_json_share=0.3, seed=5)
    s = settings(tmp_path / "home", POLYMATH_SHARD_COUNT=str(SHARDS), POLYMATH_MAX_ATTEMPTS="1")
    for shard in range(SHARDS):
        runner.select_shard(kb, s, shard)
    drive(kb, client, s, pilot=False, poll_interval_s=0.05)
    dead = {pid for (pid,) in kb.execute("SELECT passage_id::text FROM passage_requests WHERE status = 'dead'")}
    assert dead
    before = {shard: extraction_metrics(kb, s.version, shard) for shard in range(SHARDS)}
    assert sum(m["parse_errors"] for m in before.values()) == len(dead)
    assert held_back(kb) == {shard: ["JSON parse failures"] for shard in range(SHARDS)}
    emulator.faults = Faults()
    result = repair(kb, client, s, max_attempts=2, poll_interval_s=0.05)
    assert result.registered == {"unlocated": 0, "failed": len(dead)}
    assert set(emulator.job_records()[-1].request_keys) == dead
    assert kb.execute("SELECT count(*) FROM passage_requests WHERE status <> 'done'").fetchone()[0] == 0
    recorded = kb.execute("SELECT sum(concept_count) FROM passage_requests").fetchone()[0]
    assert recorded == kb.execute("SELECT count(*) FROM passage_concepts").fetchone()[0]
    # the repair job (of the whole version: no shard) answered in place of the unparsed
    # answers: the parse gate counts the same responses, none failed now, and the shard passes
    for shard in range(SHARDS):
        after = extraction_metrics(kb, s.version, shard)
        assert (after["lines"], after["parse_errors"]) == (before[shard]["lines"], 0)
    assert result.held_back_before == {shard: ["JSON parse failures"] for shard in range(SHARDS)}
    assert result.passed and result.repaired_shards == list(range(SHARDS)) and not held_back(kb)
    repaired = kb.execute("""SELECT sum(q.concepts_repaired), sum(r.concept_count), count(q.concepts_dropped)
                             FROM repair_requests q JOIN passage_requests r USING (extractor_version, passage_id)
                             """).fetchone()
    assert repaired[0] == repaired[1] > 0 and repaired[2] == 0  # nothing listed, nothing dropped


def extract_leaving_dead_passages(kb, client, emulator, tmp_path):
    """20 abstracts in one shard, extracted with 30 % of the answers unparseable and one
    attempt each: those passages are dead. The faults are off afterwards. The settings."""
    ingest_file(kb, scierc_corpus(tmp_path / "scierc.jsonl", 20))
    kb.commit()
    emulator.faults = Faults(malformed_json_share=0.3, seed=5)
    s = settings(tmp_path / "home", POLYMATH_SHARD_COUNT="1", POLYMATH_MAX_ATTEMPTS="1")
    runner.select_shard(kb, s, 0)
    drive(kb, client, s, pilot=False, poll_interval_s=0.05)
    emulator.faults = Faults()
    return s


def test_a_repair_round_claims_only_what_fits_under_the_enqueued_token_cap(kb, client, emulator, tmp_path):
    """The repair round goes through extraction's submission gate: it claims, in passage
    order, only the repairs whose estimated input fits under POLYMATH_MAX_ENQUEUED_TOKENS;
    the rest waits for the next round."""
    s = extract_leaving_dead_passages(kb, client, emulator, tmp_path)
    dead = kb.execute("""SELECT r.passage_id::text, length(p.passage_text) FROM passage_requests r
                         JOIN passages p USING (passage_id) WHERE r.status = 'dead' ORDER BY r.passage_id""").fetchall()
    assert len(dead) >= 3
    fixed = fixed_prompt_chars(s.request) + len(REPAIR_INSTRUCTION) + len("[]")  # a failed repair lists no items
    cap = math.ceil((2 * fixed + dead[0][1] + dead[1][1]) / s.chars_per_token)  # room for two repairs, not three
    capped = settings(tmp_path / "home", POLYMATH_SHARD_COUNT="1", POLYMATH_MAX_ATTEMPTS="1",
                      POLYMATH_MAX_ENQUEUED_TOKENS=str(cap))

    first = repair(kb, client, capped, max_attempts=2, poll_interval_s=0.05)
    assert first.registered == {"unlocated": 0, "failed": len(dead)} and first.requests == 2
    assert set(emulator.job_records()[-1].request_keys) == {pid for pid, _ in dead[:2]}
    assert any(f"{len(dead) - 2} repairs wait for the next round" in note for note in first.notes), first.notes
    rounds = [first]
    while rounds[-1].job_ids:  # the next rounds take the rest, each within the cap
        rounds.append(repair(kb, client, capped, max_attempts=2, poll_interval_s=0.05))
    assert len(rounds) > 2 and sum(r.requests for r in rounds) == len(dead)
    reserved = kb.execute("SELECT max(prompt_tokens) FROM batch_jobs WHERE purpose = 'repair'").fetchone()[0]
    assert 0 < reserved <= cap
    assert kb.execute("SELECT count(*) FROM passage_requests WHERE status <> 'done'").fetchone()[0] == 0


def sends_per_passage(conn, emulator) -> dict[str, int]:
    """passage id -> how many provider jobs held it: an extraction job's keys are request
    keys (of one or more passages), a repair job's are passage ids."""
    by_key: dict[str, list[str]] = {}
    for key, pid in conn.execute("SELECT request_key, passage_id::text FROM passage_requests"):
        by_key.setdefault(key, []).append(pid)
    conn.commit()
    sends: dict[str, int] = {}
    for record in emulator.job_records():
        pids = record.request_keys if "-repair-" in record.display_name else \
            [pid for key in record.request_keys for pid in by_key[key]]
        for pid in pids:
            sends[pid] = sends.get(pid, 0) + 1
    return sends


def check_each_send_has_its_own_outcome(conn, emulator) -> None:
    """Every time a passage was sent, exactly one outcome was recorded for it: a failure
    (``attempts`` counts them, extraction's and failed repairs' alike) or its final
    success. A passage in two jobs at once breaks this: the second job's outcome finds
    the ledger row in the other job and is never recorded."""
    sends = sends_per_passage(conn, emulator)
    rows = conn.execute("SELECT passage_id::text, status, attempts FROM passage_requests").fetchall()
    conn.commit()
    assert rows and all(status in ("done", "dead") for _, status, _ in rows), rows
    wrong = {pid: (sends.get(pid, 0), status, attempts) for pid, status, attempts in rows
             if sends.get(pid, 0) != attempts + (status == "done")}
    assert not wrong, wrong


def test_a_failed_request_with_attempts_left_is_extractions_to_retry_never_the_repair_lanes(kb, client, emulator,
                                                                                             tmp_path):
    ingest_file(kb, scierc_corpus(tmp_path / "scierc.jsonl", 20))
    kb.commit()
    emulator.faults = Faults(malformed_json_share=0.3, seed=5)
    s = settings(tmp_path / "home", POLYMATH_SHARD_COUNT="1", POLYMATH_MAX_ATTEMPTS="3")
    runner.select_shard(kb, s, 0)
    drive(kb, client, s, pilot=False, poll_interval_s=0.05, retry_failed=False)  # one round: failures wait
    failed = {pid for (pid,) in kb.execute("SELECT passage_id::text FROM passage_requests WHERE status = 'failed'")}
    assert failed and kb.execute("SELECT max(attempts) FROM passage_requests").fetchone()[0] == 1
    # waiting for extraction's own retry: not the repair lane's
    assert repair_sql.register(kb, version=s.version, shard=None, max_attempts=2,
                               request_max_attempts=s.max_attempts) == {"unlocated": 0, "failed": 0}
    # registered while they counted as given up (POLYMATH_MAX_ATTEMPTS was 1 then, raised to
    # 3 since): extraction takes them back first, then the repair round runs
    assert repair_sql.register(kb, version=s.version, shard=None, max_attempts=2,
                               request_max_attempts=1)["failed"] == len(failed)
    kb.commit()
    resubmitted = runner.submit(kb, client, s, 0)
    assert resubmitted.requests == len(failed)
    jobs_before = len(emulator.job_records())

    result = repair(kb, client, s, max_attempts=2, poll_interval_s=0.05)
    assert result.requests == 0 and not result.job_ids and len(emulator.job_records()) == jobs_before
    settled = kb.execute("SELECT status, last_error, count(*) FROM repair_requests GROUP BY 1, 2").fetchall()
    assert settled == [("done", "not repaired: the passage is in_flight now", len(failed))]

    drive(kb, client, s, pilot=False, poll_interval_s=0.05)  # extraction's retries, to the end
    repair(kb, client, s, max_attempts=2, poll_interval_s=0.05)  # whatever extraction gave up on
    check_each_send_has_its_own_outcome(kb, emulator)


EXTRACT_OR_REPAIR = """
import sys, time
from pathlib import Path

import psycopg

from polymath_assets.gemini.client import BatchClient
from polymath_assets.kb import control
from polymath_assets.operations.extraction import drive
from polymath_assets.operations.repair import REPAIR_INSTRUCTION, repair
from polymath_assets_tests.extraction_helpers import settings

role, dsn, base_url, home, max_attempts = sys.argv[1:]
s = settings(Path(home), POLYMATH_SHARD_COUNT="1", POLYMATH_MAX_ATTEMPTS=max_attempts)
client = BatchClient("offline-emulator", base_url=base_url, provider="gemini-emulator", retry_attempts=1)
with psycopg.connect(dsn) as conn:
    if role == "extract":
        drive(conn, client, s, pilot=False, poll_interval_s=0.05)
    elif role == "repair-once":
        repair(conn, client, s, max_attempts=2, poll_interval_s=0.05)
    else:  # repair rounds while extraction runs, until it is done and a round finds nothing
        while True:
            extracting = control.scope_remaining(conn, version=s.version, selection=None,
                                                 max_attempts=s.max_attempts, retry_failed=True)
            conn.commit()
            if not repair(conn, client, s, max_attempts=2, poll_interval_s=0.05).job_ids and not extracting:
                break
            time.sleep(0.05)
print(role, "finished")
"""


def spawn(role: str, dsn: str, emulator, home, max_attempts: int, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", EXTRACT_OR_REPAIR, role, dsn, emulator.base_url, str(home),
                             str(max_attempts)], env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_extraction_and_repair_at_once_never_send_one_passage_twice(kb, kb_dsn, emulator, tmp_path):
    """Real processes: extraction retrying its failures and repair rounds taking what it
    gives up on, at the same time; every send of a passage has its own outcome."""
    ingest_file(kb, scierc_corpus(tmp_path / "scierc.jsonl", 30))
    kb.commit()
    emulator.faults = Faults(malformed_json_share=0.4, seed=11)
    runner.select_shard(kb, settings(tmp_path / "home", POLYMATH_SHARD_COUNT="1"), 0)
    both = [spawn(role, kb_dsn, emulator, tmp_path / "home", max_attempts=2) for role in ("extract", "repair")]
    outputs = [p.communicate(timeout=300) for p in both]
    assert [p.returncode for p in both] == [0, 0], outputs
    kinds = {"-repair-" in r.display_name for r in emulator.job_records()}
    assert kinds == {True, False}  # both lanes sent work
    check_each_send_has_its_own_outcome(kb, emulator)


def test_a_repair_job_a_crashed_peer_left_unsubmitted_is_recovered_while_the_round_waits(kb, kb_dsn, client,
                                                                                            emulator, tmp_path):
    """A peer killed after uploading its repair job, whose lease runs out while this round
    waits for that job: the round takes it over (the provider never had it: abandoned, its
    reservation released, its repairs waiting again) instead of waiting for it forever."""
    s = extract_leaving_dead_passages(kb, client, emulator, tmp_path)
    dead = kb.execute("SELECT count(*) FROM passage_requests WHERE status = 'dead'").fetchone()[0]
    peer = spawn("repair-once", kb_dsn, emulator, tmp_path / "home", max_attempts=1,
                 env={"POLYMATH_FAILPOINT": "after_upload"})
    assert peer.wait(timeout=120) == -9, peer.communicate()
    # the peer ran on another host (its process cannot be checked) and its lease has 2 s left
    job_id = kb.execute("""UPDATE batch_jobs SET owner = 'elsewhere:1:peer', lease_expires_at = now() + interval '2 s'
                           WHERE purpose = 'repair' AND state = 'uploaded' RETURNING job_id""").fetchone()[0]
    kb.commit()

    result = repair(kb, client, s, max_attempts=2, poll_interval_s=0.05, timeout_s=60)
    assert not any("stopped waiting" in note for note in result.notes), result.notes
    assert f"repair job {job_id}: interrupted before submission; {dead} requests waiting again" in result.notes
    assert kb.execute("SELECT state FROM batch_jobs WHERE job_id = %s", (job_id,)).fetchone()[0] == "abandoned"
    assert kb.execute("SELECT state FROM spend_ledger WHERE job_id = %s", (job_id,)).fetchone()[0] == "released"
    assert kb.execute("SELECT status, attempts, count(*) FROM repair_requests GROUP BY 1, 2").fetchall() == [
        ("pending", 0, dead)]
    again = repair(kb, client, s, max_attempts=2, poll_interval_s=0.05)
    assert again.requests == dead
    assert kb.execute("SELECT count(*) FROM passage_requests WHERE status <> 'done'").fetchone()[0] == 0


@pytest.mark.slow
def test_two_repair_processes_at_once_pay_once_and_carry_the_shards_on(kb2, kb2_dsn, graph, graph_server, tmp_path):
    """Both processes: one repair job between them, each repaired shard then accepted,
    embedded and projected to the graph (the chain after the gates)."""
    kb, kb_dsn = kb2, kb2_dsn
    ingest_file(kb, scierc_corpus(tmp_path / "scierc.jsonl", ABSTRACTS))
    kb.commit()
    env = {"POLYMATH_SHARD_COUNT": str(SHARDS), "POLYMATH_EMULATOR_FAULTS": json.dumps(FAULTS),
           "POLYMATH_EMBEDDING_MODEL": "packaged-minilm", "POLYMATH_EMBEDDING_DIM": "384",
           "POLYMATH_EMBEDDING_DEVICE": "cpu", "NEO4J_URI": graph_server,
           "DAGSTER_HOME": str(tmp_path / "dagster")}
    try:
        backfill = run_cli(tmp_path, kb_dsn, "backfill", "--offline", "--yes", "--poll-interval", "0.1", env=env,
                           timeout=300)
        assert backfill.returncode == 1 and "FAIL  evidence present" in backfill.stdout, backfill.stdout
        affected = unlocated_passages(kb)
        kb.commit()
        command = [sys.executable, "-m", "polymath_assets.cli", "repair", "--offline", "--poll-interval", "0.1"]
        full_env = {**os.environ, "POLYMATH_HOME": str(tmp_path), "POSTGRES_DSN": kb_dsn,
                    "POLYMATH_RUNLOG_DIR": str(tmp_path / "runlogs"), **env}
        both = [subprocess.Popen(command, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
        outputs = [p.communicate(timeout=300) for p in both]
        assert [p.returncode for p in both] == [0, 0], outputs
        jobs = kb.execute("""SELECT j.request_count, s.state FROM batch_jobs j JOIN spend_ledger s USING (job_id)
                             WHERE j.purpose = 'repair'""").fetchall()
        assert jobs == [(len(affected), "actual")], (jobs, outputs)
        assert not unlocated_passages(kb) and not held_back(kb)
        check_offsets(kb)
        # the process that saw the shards held back carried them on (both may have: it is idempotent)
        assert any(f"shards complete: {SHARDS}; held back by a gate: 0; failed: 0" in out for out, _ in outputs)
        assert not any("FAILED" in out or "still held back" in out for out, _ in outputs), outputs
        embedded, passages = kb.execute("SELECT count(embedding), count(*) FROM passages").fetchone()
        assert embedded == passages == ABSTRACTS
        assert graph.records("MATCH (p:Passage) RETURN count(p) AS n")[0]["n"] == ABSTRACTS
    finally:
        emulator_service.stop(tmp_path)


@pytest.mark.slow
def test_the_repair_job_turns_a_held_back_partition_into_an_accepted_one(kb2, kb2_dsn, emulator, graph, graph_server,
                                                                         tmp_path):
    """The Dagster door: shards held back by unlocatable spans fail their passage_concepts
    partition; the `repair` job repairs them and carries them on, so the partitions become
    materialized, their embeddings and graph follow, and qc_report is written again."""
    import dagster as dg

    from polymath_assets.config import Config
    from polymath_assets.definitions import build_definitions
    from polymath_assets.defs.execution import FULL_CHAIN, ShardRunner
    from polymath_assets.defs.resources import EmbeddingResource, GeminiResource, GraphResource, PostgresResource

    ingest_file(kb2, scierc_corpus(tmp_path / "scierc.jsonl", ABSTRACTS))
    kb2.commit()
    emulator.faults = Faults(**FAULTS)
    config = Config.from_env({"POLYMATH_SHARD_COUNT": str(SHARDS), "POLYMATH_EMBEDDING_DIM": "384",
                              "POLYMATH_EMBEDDING_MODEL": "packaged-minilm", "POLYMATH_EMBEDDING_DEVICE": "cpu",
                              "POLYMATH_HOME": str(tmp_path / "home"), "POLYMATH_RUNLOG_DIR": str(tmp_path / "logs")})
    defs = build_definitions(config)
    resources = {"postgres": PostgresResource(dsn_override=kb2_dsn, settings=config),
                 "gemini": GeminiResource(base_url_override=emulator.base_url, settings=config),
                 "graph": GraphResource(uri_override=graph_server, settings=config),
                 "embedder": EmbeddingResource(settings=config)}
    instance = dg.DagsterInstance.ephemeral()
    runner_ = ShardRunner(instance, list(defs.assets), FULL_CHAIN, resources, {})
    runs = [runner_(shard) for shard in range(SHARDS)]
    held = {run.shard for run in runs if run.failed_checks}
    assert held and all(run.failed_checks == ("evidence_present",) for run in runs if run.shard in held), runs
    materialized = instance.get_materialized_partitions(dg.AssetKey("passage_concepts"))
    assert not materialized & {f"shard-{s:03d}" for s in held}

    result = defs.resolve_job_def("repair").execute_in_process(
        run_config={"ops": {"repair_shards": {"config": {"poll_interval_s": 0.05}}}}, resources=resources,
        instance=instance)
    assert result.success
    materialized = instance.get_materialized_partitions(dg.AssetKey("passage_concepts"))
    assert materialized == {f"shard-{s:03d}" for s in range(SHARDS)}
    assert instance.get_materialized_partitions(dg.AssetKey("neo4j_concept_graph")) == materialized
    assert not held_back(kb2)
    assert graph.records("MATCH (p:Passage) RETURN count(p) AS n")[0]["n"] == ABSTRACTS
    report = instance.get_latest_materialization_event(dg.AssetKey("qc_report"))
    assert report.asset_materialization.metadata["shards held back"].value == {}
