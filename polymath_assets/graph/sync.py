"""Project a shard of the knowledge base into the concept graph.

The graph shows canonical concepts (``passage_concepts_canonical``): one Concept node
per concept id with its preferred name and aliases, and per passage one MENTIONS for
each row whose surface is resolved, carrying the surface as written and the extractor
version. A sync is incremental — it re-projects the passages named in the change log
(``graph_changes``, filled by triggers on extracted rows and on aliases; migrations 015
and 027) and refreshes the concepts whose aliases changed (``graph_concept_changes``) —
unless a full projection is due: asked for (``full=True``, the asset's ``full`` run
config), no earlier sync of the shard, a graph that is not the one the shard was synced
to (epoch marker), or a merge policy that changed since (policy digest). Either way a rollback, a deleted
row, a policy change, a merge, a split or its undo reaches the graph on the next sync.

Order: schema (indexes/constraints) first; claim the change logs; note what the claimed
passages link to now; papers -> passages -> concepts -> mentions in UNWIND batches;
refresh the claimed concepts; remove passages that lost every projected row (or, full,
sweep the shard's passages this run did not write); delete concepts and papers left
with nothing pointing at them;
then, in one PostgreSQL transaction, consume the claim and record the checkpoint. A sync
that dies half-way releases its claim, so the next run redoes the same passages; every
statement is idempotent, so redoing it is harmless.

Syncs run one at a time (a PostgreSQL advisory lock, and the Dagster pool ``graph`` with
limit 1): they share Concept and Paper nodes, and one shard's clean-up of nodes nothing
points at must not run between another's MERGE of a concept and of its mention. On Neo4j
every write is a managed transaction, so transient errors (a deadlock with another
writer, a leader switch) are retried rather than failing the shard.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg

from polymath_assets.failpoints import failpoint
from polymath_assets.graph import cypher
from polymath_assets.graph.connection import GraphConnection
from polymath_assets.kb import graph_source
from polymath_assets.progress import progress_bar


@dataclass
class SyncResult:
    shard: int | None
    full_reason: str | None                   # why the whole shard was projected; None: incremental
    counts: dict[str, int]                    # rows sent per kind (papers, passages, concepts, mentions)
    seconds: float
    watermark: str | None                     # ISO: changes committed before this are in the graph
    claimed_passages: int = 0                 # passages named by the change-log rows consumed
    removed_passages: int = 0                 # passages that left the graph
    unresolved: int = 0                       # rows in scope whose surface has no canonical concept yet
    skipped_unknown_type: int = 0             # rows whose concept type is not in the allow-list
    refreshed_concepts: int = 0               # concepts whose aliases changed, refreshed in place
    graph_changes: dict[str, int] = field(default_factory=dict)  # summed summary counters

    @property
    def full(self) -> bool:
        return self.full_reason is not None

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


def full_reason(requested: bool, checkpoint: dict, epoch: str, policy: str) -> str | None:
    """Why this sync must project the whole shard, or None (incremental)."""
    if requested:
        return "requested"
    if not checkpoint.get("graph_epoch"):
        return "first sync of the shard"
    if checkpoint["graph_epoch"] != epoch:
        return "the graph was emptied or replaced since the last sync"
    if checkpoint.get("policy") != policy:
        return "the merge policy changed since the last sync"
    return None


def sync_shard(conn: psycopg.Connection, graph: GraphConnection, *, shard: int | None, shard_count: int,
               batch_size: int, full: bool = False, create_schema: bool = True) -> SyncResult:
    """Project the shard (None: all shards) into the graph and commit ``conn`` with the
    claim consumed and the checkpoint stored.

    ``create_schema=False`` exists for the benchmark that measures syncing without indexes."""
    if conn.autocommit:
        raise ValueError("sync_shard needs a connection in a transaction (autocommit off): "
                         "the change-log claim and the sync scope live until its commit")
    started = time.perf_counter()
    graph_source.lock_graph_sync(conn)
    if create_schema:
        graph.ensure_schema()
    epoch = graph_epoch(graph)
    policy = graph_source.policy_digest(conn)
    reason = full_reason(full, graph_source.read_checkpoint(conn, shard), epoch, policy)
    claimed = graph_source.claim_changes(conn, shard=shard, shard_count=shard_count)
    changed_concepts = graph_source.claim_concept_changes(conn)
    scope = graph_source.open_scope(conn, shard=shard, shard_count=shard_count, incremental=reason is None,
                                    concept_types=tuple(cypher.CONCEPT_LABELS))
    synced_at = int(time.time() * 1000)  # epoch ms, a plain integer on either server
    writer = _BatchWriter(graph, synced_at, progress_bar(desc=f"graph sync {_scope_name(shard)}", unit="row"))
    linked = _links_of_claimed(graph, conn, batch_size) if reason is None else None
    counts = {
        "papers": writer.write(cypher.MERGE_PAPERS, graph_source.stream_papers(conn, batch_size)),
        "passages": writer.write(cypher.MERGE_PASSAGES, graph_source.stream_passages(conn, batch_size)),
        "concepts": _write_concepts(writer, graph_source.stream_concepts(conn, batch_size)),
        # Mentions stream per passage (a passage's mentions are pruned and merged together);
        # at ~8 mentions a passage this keeps statements near batch_size rows.
        "mentions": _write_mentions(writer, graph_source.stream_mentions(conn, max(1, batch_size // 8))),
    }
    refreshed = graph_source.claimed_concepts(conn, tuple(cypher.CONCEPT_LABELS))
    for rows in _chunks(refreshed, batch_size):
        writer.run(cypher.REFRESH_CONCEPTS, rows)
    writer.bar.close()
    if reason is None:
        removed = _remove_passages(writer, graph_source.vanished_passages(conn), batch_size)
        for ids in _chunks(sorted(linked["concepts"] | set(changed_concepts)), batch_size):
            writer.add(graph.run(cypher.DELETE_ORPHAN_CONCEPTS, ids=ids))
        for docs in _chunks(sorted(linked["docs"]), batch_size):
            writer.add(graph.run(cypher.DELETE_ORPHAN_PAPERS, docs=docs))
    else:
        removed = graph.delete_in_batches(cypher.stale_passages(shard), "p", shard=shard, synced_at=synced_at)
        graph.delete_in_batches(cypher.ORPHAN_CONCEPTS, "c")
        graph.delete_in_batches(cypher.ORPHAN_PAPERS, "d")
    graph_source.consume_claim(conn)
    watermark = graph_source.save_checkpoint(conn, shard, counts=counts, graph_epoch=epoch, policy=policy)
    conn.commit()
    return SyncResult(shard=shard, full_reason=reason, counts=counts, seconds=time.perf_counter() - started,
                      watermark=watermark, claimed_passages=claimed, removed_passages=removed,
                      unresolved=scope.unresolved, skipped_unknown_type=scope.skipped_unknown_type,
                      refreshed_concepts=len(refreshed), graph_changes=writer.changes)


def _scope_name(shard: int | None) -> str:
    return "all shards" if shard is None else f"shard {shard}"


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), max(1, size)):
        yield items[start:start + size]


def graph_epoch(graph: GraphConnection) -> str:
    """The identity of this graph's contents: a marker node created with the first sync.
    An emptied or replaced graph has none (or another), so checkpoints recorded against
    the old one no longer count and the next sync projects everything again."""
    found = graph.records(cypher.READ_EPOCH)
    if found:
        return found[0]["epoch"]
    graph.run(cypher.CREATE_EPOCH, epoch=uuid.uuid4().hex)
    return graph.records(cypher.READ_EPOCH)[0]["epoch"]


def _links_of_claimed(graph: GraphConnection, conn: psycopg.Connection, batch_size: int) -> dict[str, set]:
    """The concepts and papers the claimed passages point at before the sync."""
    ids = graph_source.claimed_passages(conn)
    linked = {"concepts": set(), "docs": set()}
    for chunk in _chunks(ids, batch_size):
        for row in graph.records(cypher.LINKS_OF_PASSAGES, ids=chunk):
            linked["concepts"].update(k for k in row["concepts"] if k is not None)
            linked["docs"].update(d for d in row["docs"] if d is not None)
    return linked


def _remove_passages(writer: "_BatchWriter", ids: list[str], batch_size: int) -> int:
    removed = 0
    for chunk in _chunks(ids, batch_size):
        counters = writer.graph.run(cypher.DELETE_PASSAGES, ids=chunk)
        writer.add(counters)
        removed += counters.get("nodes_deleted", 0)
    return removed


class _BatchWriter:
    """Runs UNWIND statements batch by batch and sums their summary counters. There is no
    size limit to split around: a batch is one statement, whatever its values."""

    def __init__(self, graph: GraphConnection, synced_at: int, bar):
        self.graph = graph
        self.synced_at = synced_at
        self.bar = bar  # silent unless on a terminal
        self.changes: dict[str, int] = {}

    def add(self, counters: dict[str, int]) -> None:
        for name, value in counters.items():
            self.changes[name] = self.changes.get(name, 0) + value

    def run(self, statement: str, rows: list[dict]) -> None:
        if rows:
            self.add(self.graph.run(statement, rows=rows, synced_at=self.synced_at))
            failpoint("graph_statement")  # tests kill the graph server here; a safe point too (see failpoints)
            self.bar.update(len(rows))

    def write(self, statement: str, batches: Iterable[list[dict]]) -> int:
        sent = 0
        for rows in batches:
            self.run(statement, rows)
            sent += len(rows)
        return sent


def _write_concepts(writer: _BatchWriter, batches: Iterable[list[dict]]) -> int:
    # One statement per type: the type's label is spliced in from the allow-list only
    # (the scope already holds nothing but allow-listed types).
    sent = 0
    for rows in batches:
        for concept_type, label in cypher.CONCEPT_LABELS.items():
            writer.run(cypher.merge_concepts(label), [row for row in rows if row["type"] == concept_type])
        sent += len(rows)
    return sent


def mention_rows(passages: list[dict]) -> tuple[list[dict], list[dict]]:
    """(prune rows, merge rows) for a batch of passages with their aggregated mentions."""
    prune, merge = [], []
    for passage in passages:
        rows = [dict(m, passage_id=passage["passage_id"],
                     key=cypher.mention_key(m["concept_id"], m["surface_type"], m["surface"]))
                for m in passage["mentions"]]
        prune.append({"passage_id": passage["passage_id"], "keys": [row["key"] for row in rows]})
        merge += rows
    return prune, merge


def _write_mentions(writer: _BatchWriter, batches: Iterable[list[dict]]) -> int:
    sent = 0
    for passages in batches:
        prune, merge = mention_rows(passages)
        writer.run(cypher.PRUNE_MENTIONS, prune)
        writer.run(cypher.MERGE_MENTIONS, merge)
        sent += len(merge)
    return sent
