"""The use cases, one behaviour for both front doors.

The ``polymath`` command (``cli/``) and the Dagster definitions (``defs/``) are thin
callers of these functions: each takes its services (a connection, the batch client, the
graph, an encoder), a progress callback for what an operator should see as it goes
(``click.echo`` on the terminal, ``context.log.info`` in Dagster) and returns a result
object that the caller prints or turns into asset metadata. A pilot, a budget check, a
poll-then-ingest loop, a graph sync or a concept resolution therefore exists once.

- ``extraction``: run_pilot, plan_backfill / check_budget, submit_shards, poll_jobs,
  settle (poll then ingest one scope), drive (the terminal's loop), finish (report);
- ``graph``: sync_graph (sync and reconcile shards);
- ``concepts``: resolve_concepts (with the values of its checks);
- ``repair``: one bounded repair round for what came back wrong;
- ``compare``: one pilot sample through two prompt versions, side by side;
- ``status``: corpus_status (per shard and total, with the cost projection);
- ``shard_runs``: run_shards (`polymath run`, the settle run, a repair's carrying on: each
  shard's chain of assets as its own run, the outcomes classified), settle_ready (which
  shards a settle run takes). How a shard's run executes is Dagster's (defs/execution.py).
"""

from collections.abc import Callable

Progress = Callable[[str], None]


def quiet(_: str) -> None:
    """A progress callback that shows nothing."""
