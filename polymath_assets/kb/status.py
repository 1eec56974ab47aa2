"""Per-shard numbers for `polymath status` beyond the ledger: embeddings and graph sync."""

from __future__ import annotations

import psycopg
from psycopg import sql


def embedding_coverage_by_shard(conn: psycopg.Connection, shard_count: int, model: str) -> dict[int, tuple[int, int]]:
    """shard -> (passages with an embedding from ``model``, passages), in one scan."""
    query = sql.SQL("""SELECT shard_hash %% {n}, count(*) FILTER (WHERE embedding IS NOT NULL AND embedding_model = %s),
                              count(*)
                       FROM passages GROUP BY 1""").format(n=sql.Literal(int(shard_count)))
    return {shard: (embedded, total) for shard, embedded, total in conn.execute(query, (model,))}


def graph_watermarks(conn: psycopg.Connection) -> dict[int, str]:
    """shard -> the time up to which its concepts are in the graph (ISO), from kb_migrations."""
    rows = conn.execute(
        """SELECT job_name, checkpoint->>'watermark' FROM kb_migrations
           WHERE job_name LIKE 'graph_sync:shard-%' AND checkpoint ? 'watermark'""").fetchall()
    return {int(name.rsplit("-", 1)[1]): mark for name, mark in rows if mark}
