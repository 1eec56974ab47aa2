"""Status use case: per shard and in total, the ledger states of the extractor version's
passages, embeddings, graph sync and cost — what ``polymath status`` prints and the
``qc_report`` asset shows beside its gates."""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from polymath_assets.config import Config
from polymath_assets.extraction.estimate import CostProjection, project
from polymath_assets.extraction.runner import ExtractionSettings, calibrate_output
from polymath_assets.kb import ledger
from polymath_assets.kb.control import spend_by_shard, spend_totals
from polymath_assets.kb.status import embedding_coverage_by_shard, graph_watermarks

STATES = ("pending", "in_flight", "done", "failed", "dead")


@dataclass
class ShardStatus:
    shard: int
    states: dict[str, int]
    embedded: int
    passages: int
    cost_usd: float  # actual, or the reserved estimate while in flight
    graph_synced_up_to: str | None


@dataclass
class CorpusStatus:
    version: str
    embedding_model: str
    shards: list[ShardStatus]
    cost: dict[str, float]  # spend ledger totals
    pilot_cost_usd: float | None  # jobs of pilots (they have no shard)
    budget_usd: float
    projection: CostProjection  # per 1,000 passages and for what is still pending
    cost_by_shard: dict[int | None, dict[str, float]] = field(default_factory=dict)

    @property
    def totals(self) -> dict[str, int]:
        return {st: sum(s.states.get(st, 0) for s in self.shards) for st in STATES}

    @property
    def passages(self) -> int:
        return sum(s.passages for s in self.shards)

    @property
    def embedded(self) -> int:
        return sum(s.embedded for s in self.shards)

    @property
    def synced_shards(self) -> int:
        return sum(1 for s in self.shards if s.graph_synced_up_to)

    def as_json(self) -> dict:
        by_shard = {s.shard: s for s in self.shards}
        return {
            "extractor_version": self.version, "passages": self.passages, "total": self.totals,
            "shards": {str(s.shard): s.states for s in self.shards if s.states},
            "cost": self.cost,
            "cost_by_shard": {("pilot" if k is None else str(k)): v
                              for k, v in sorted(self.cost_by_shard.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))},
            "embeddings": {"model": self.embedding_model, "with_embedding": self.embedded, "passages": self.passages,
                           "shards": {str(k): {"with_embedding": s.embedded, "passages": s.passages}
                                      for k, s in by_shard.items() if s.passages}},
            "graph_watermarks": {str(s.shard): s.graph_synced_up_to for s in self.shards if s.graph_synced_up_to},
            "projection": self.projection.as_dict(),
        }


def corpus_status(conn: psycopg.Connection, config: Config) -> CorpusStatus:
    version = config.extractor_version
    by_shard = ledger.status_counts(conn, version)
    spend = spend_by_shard(conn, version)
    embedded = embedding_coverage_by_shard(conn, config.shard_count, config.embedding_model)
    synced = graph_watermarks(conn)
    costs = spend_totals(conn, version)
    projection = project(conn, calibrate_output(conn, ExtractionSettings.from_config(config)))
    conn.commit()
    shards = []
    for shard in sorted(set(by_shard) | set(embedded)):
        money = spend.get(shard, {})
        e, t = embedded.get(shard, (0, 0))
        shards.append(ShardStatus(shard, by_shard.get(shard, {}), e, t,
                                  money.get("actual_usd", 0.0) + money.get("reserved_usd", 0.0), synced.get(shard)))
    pilot = spend.get(None)
    return CorpusStatus(version, config.embedding_model, shards, costs,
                        pilot["actual_usd"] + pilot["reserved_usd"] if pilot else None, config.budget_usd, projection,
                        spend)
