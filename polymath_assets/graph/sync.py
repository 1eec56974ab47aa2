"""Project a shard of the knowledge base into the concept graph, and check the result.

Order of a sync: schema (indexes/constraints) first, then papers -> passages ->
concepts -> mentions in UNWIND batches, then (full syncs only) the sweep of the shard's
passages that no longer have merged concepts, and only then the watermark. A sync that
dies half-way leaves the watermark where it was, so the next run redoes the same scope;
every statement is a MERGE, so redoing it is harmless.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import psycopg

from polymath_assets.graph import cypher
from polymath_assets.graph.connection import GraphConnection
from polymath_assets.kb import graph_source
from polymath_assets.progress import progress_bar

KINDS = ("papers", "passages", "concepts", "mentions")


@dataclass
class SyncResult:
    shard: int | None
    full: bool
    counts: dict[str, int]                    # rows sent per kind (papers, passages, concepts, mentions)
    seconds: float
    watermark: str | None                     # ISO; the stored watermark after this run
    skipped_unknown_type: int = 0             # merged rows whose concept type is not in the allow-list
    graph_changes: dict[str, int] = field(default_factory=dict)  # summed summary counters

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Reconciliation:
    shard: int | None
    expected: dict[str, int]
    actual: dict[str, int]
    ok: bool
    differences: dict[str, dict[str, int]]


def ensure_schema(graph: GraphConnection) -> list[str]:
    """Create the lookup indexes (FalkorDB) or uniqueness constraints (Neo4j) that are
    missing; return the statements run. Must come before any batch: an UNWIND MERGE
    without them scans every node of the label per row."""
    if graph.kind == cypher.NEO4J:
        statements = cypher.neo4j_schema()
    else:
        present = {(r["label"], prop) for r in graph.records(cypher.FALKORDB_LIST_INDEXES)
                   for prop in r["properties"]}
        statements = [cypher.falkordb_index(label, prop)
                      for label, prop in cypher.LOOKUP_KEYS + cypher.PLAIN_INDEXES
                      if (label, prop) not in present]
    for statement in statements:
        graph.run(statement)
    return statements


def sync_shard(conn: psycopg.Connection, graph: GraphConnection, *, shard: int | None, shard_count: int,
               batch_size: int, full: bool = False, create_schema: bool = True) -> SyncResult:
    """Project the shard (None: all shards) into the graph, incrementally from its
    watermark unless ``full``; commit ``conn`` once the watermark is stored.

    ``create_schema=False`` exists for the benchmark that measures syncing without indexes."""
    if conn.autocommit:
        raise ValueError("sync_shard needs a connection in a transaction (autocommit off): "
                         "the sync scope is a temporary table dropped at commit")
    started = time.perf_counter()
    if create_schema:
        ensure_schema(graph)
    epoch = graph_epoch(graph)
    watermark = None if full else graph_source.read_watermark(conn, shard, epoch)
    scope = graph_source.open_scope(conn, shard=shard, shard_count=shard_count, watermark=watermark,
                                    concept_types=tuple(cypher.CONCEPT_LABELS))
    synced_at = int(time.time() * 1000)  # epoch ms: FalkorDB cannot take temporal values over Bolt
    writer = _BatchWriter(graph, synced_at, progress_bar(desc=f"graph sync {_scope_name(shard)}", unit="row"))
    counts = {
        "papers": writer.write(cypher.MERGE_PAPERS, graph_source.stream_papers(conn, batch_size)),
        "passages": writer.write(cypher.MERGE_PASSAGES, graph_source.stream_passages(conn, batch_size)),
        "concepts": _write_concepts(writer, graph_source.stream_concepts(conn, batch_size)),
        # Mentions stream per passage (a passage's mentions are pruned and merged together);
        # at ~8 mentions a passage this keeps statements near batch_size rows.
        "mentions": _write_mentions(writer, graph_source.stream_mentions(conn, max(1, batch_size // 8))),
    }
    writer.bar.close()
    if full:
        sweep = cypher.SWEEP_ALL_PASSAGES if shard is None else cypher.SWEEP_SHARD_PASSAGES
        writer.add(graph.run(sweep, shard=shard, synced_at=synced_at))
    high = graph_source.scope_high_water(conn)
    graph_source.save_watermark(conn, shard, high, counts, epoch)
    conn.commit()
    stored = graph_source.read_watermark(conn, shard, epoch)
    conn.commit()
    return SyncResult(shard=shard, full=full, counts=counts, seconds=time.perf_counter() - started,
                      watermark=stored.isoformat() if stored else None,
                      skipped_unknown_type=scope.skipped_unknown_type, graph_changes=writer.changes)


def _scope_name(shard: int | None) -> str:
    return "all shards" if shard is None else f"shard {shard}"


def graph_epoch(graph: GraphConnection) -> str:
    """The identity of this graph's contents: a marker node created with the first sync.
    An emptied or replaced graph has none (or another), so watermarks recorded against
    the old one no longer count and the next sync projects everything again."""
    found = graph.records(cypher.READ_EPOCH)
    if found:
        return found[0]["epoch"]
    graph.run(cypher.CREATE_EPOCH, epoch=uuid.uuid4().hex)
    return graph.records(cypher.READ_EPOCH)[0]["epoch"]


class _BatchWriter:
    """Runs UNWIND statements batch by batch and sums their summary counters."""

    def __init__(self, graph: GraphConnection, synced_at: int, bar):
        self.graph = graph
        self.synced_at = synced_at
        self.bar = bar  # silent unless on a terminal
        self.changes: dict[str, int] = {}

    def add(self, counters: dict[str, int]) -> None:
        for name, value in counters.items():
            self.changes[name] = self.changes.get(name, 0) + value

    def run(self, statement: str, rows: list[dict]) -> None:
        for chunk in chunk_rows(rows, self.graph.max_message_bytes, len(statement.encode()) + 64):
            self.add(self.graph.run(statement, rows=chunk, synced_at=self.synced_at))
            self.bar.update(len(chunk))

    def write(self, statement: str, batches: Iterable[list[dict]]) -> int:
        sent = 0
        for rows in batches:
            self.run(statement, rows)
            sent += len(rows)
        return sent


class RowTooLarge(ValueError):
    """One row alone exceeds what the server accepts in a statement."""


def chunk_rows(rows: list[dict], max_bytes: int | None, overhead: int) -> Iterator[list[dict]]:
    """Split a batch so that each statement stays under ``max_bytes`` (None: no limit).

    Sizes are estimated as JSON, which is no smaller than Bolt's PackStream encoding for
    strings, keys and maps; the limit keeps a margin for the few 9-byte floats and ints."""
    if not rows:
        return
    if max_bytes is None:
        yield rows
        return
    chunk, size = [], overhead
    for row in rows:
        row_size = len(json.dumps(row, ensure_ascii=False, default=str).encode()) + 1
        if overhead + row_size > max_bytes:
            raise RowTooLarge(
                f"a graph row of {row_size} bytes exceeds the {max_bytes}-byte statement limit of the "
                f"embedded FalkorDB server (it crashes on larger Bolt messages): {json.dumps(row)[:200]}...; "
                "shorten the offending value in PostgreSQL or sync to Neo4j (NEO4J_URI)")
        if chunk and size + row_size > max_bytes:
            yield chunk
            chunk, size = [], overhead
        chunk.append(row)
        size += row_size
    yield chunk


def _write_concepts(writer: _BatchWriter, batches: Iterable[list[dict]]) -> int:
    # One statement per type: the type's label is spliced in from the allow-list only
    # (the scope already holds nothing but allow-listed types).
    sent = 0
    for rows in batches:
        for concept_type, label in cypher.CONCEPT_LABELS.items():
            typed = [dict(row, key=cypher.concept_key(row["type"], row["name"]))
                     for row in rows if row["type"] == concept_type]
            writer.run(cypher.merge_concepts(label), typed)
        sent += len(rows)
    return sent


def mention_rows(passages: list[dict]) -> tuple[list[dict], list[dict]]:
    """(prune rows, merge rows) for a batch of passages with their aggregated mentions."""
    prune, merge = [], []
    for passage in passages:
        keys = [cypher.concept_key(m["type"], m["name"]) for m in passage["mentions"]]
        prune.append({"passage_id": passage["passage_id"], "keys": keys})
        merge += [{"passage_id": passage["passage_id"], "key": key, "confidence": m["confidence"],
                   "extractor_version": m["extractor_version"]}
                  for key, m in zip(keys, passage["mentions"])]
    return prune, merge


def _write_mentions(writer: _BatchWriter, batches: Iterable[list[dict]]) -> int:
    sent = 0
    for passages in batches:
        prune, merge = mention_rows(passages)
        writer.run(cypher.PRUNE_MENTIONS, prune)
        writer.run(cypher.MERGE_MENTIONS, merge)
        sent += len(merge)
    return sent


# ---- checking ---------------------------------------------------------------------------------

def graph_counts(graph: GraphConnection, shard: int | None) -> dict[str, int]:
    """What the graph holds for the shard's passages (None: all passages): passages,
    their MENTIONS, the distinct concepts they mention, their papers, FROM_PAPER."""
    if shard is None:
        mentions = graph.records(cypher.COUNT_ALL_MENTIONS)[0]
        papers = graph.records(cypher.COUNT_ALL_PAPERS)[0]
    else:
        mentions = graph.records(cypher.COUNT_SHARD_MENTIONS, shard=shard)[0]
        papers = graph.records(cypher.COUNT_SHARD_PAPERS, shard=shard)[0]
    found = {**mentions, **papers}
    return {name: int(found[name]) for name in ("papers", "passages", "concepts", "mentions", "from_paper")}


def compare(expected: dict[str, int], actual: dict[str, int]) -> dict[str, dict[str, int]]:
    """The kinds whose counts differ, with both figures."""
    return {name: {"expected": expected[name], "actual": actual.get(name, 0)}
            for name in expected if expected[name] != actual.get(name, 0)}


def reconcile(conn: psycopg.Connection, graph: GraphConnection, *, shard: int | None,
              shard_count: int) -> Reconciliation:
    """Compare the graph with Postgres for the shard's whole scope."""
    expected = graph_source.expected_counts(conn, shard, shard_count, tuple(cypher.CONCEPT_LABELS))
    conn.commit()
    actual = graph_counts(graph, shard)
    differences = compare(expected, actual)
    return Reconciliation(shard=shard, expected=expected, actual=actual, ok=not differences,
                          differences=differences)


def papers_of_concept(graph: GraphConnection, concept_type: str, name: str, limit: int = 20) -> list[dict]:
    """Traversal concept <- passage -> paper: the papers (title, DOI) whose passages mention it."""
    return graph.records(cypher.PAPERS_OF_CONCEPT, key=cypher.concept_key(concept_type, name), limit=limit)
