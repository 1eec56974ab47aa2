"""The repair lane: one bounded round for what came back wrong, instead of re-extracting
whole shards.

Covered, per passage of the scope (a shard, or the whole version):

- ``unlocated``: a done passage with concepts whose span or quotes could not be located.
  It is asked again with a targeted instruction — the passage, the unlocated items, "copy
  each exactly as written in the passage, or leave it out" — in the same answer format.
  Repaired concepts replace those rows; an item the model leaves out, or copies in a way
  that still cannot be located, is dropped (a concept without evidence is not kept).
- ``failed``: a passage extraction gave up on — dead after POLYMATH_MAX_ATTEMPTS failed
  answers (not parsed, cut off at MAX_TOKENS, request errors): asked again with the
  extraction prompt, its result recorded as extraction's. A failed request with attempts
  left is extraction's own retry, never taken here, so no passage is in two jobs at once.

Bounds: a passage takes part in at most POLYMATH_REPAIR_MAX_ATTEMPTS rounds; each round's
estimate is reserved in the spend ledger under the budget cap before anything is sent,
and its actual cost recorded at ingestion. The control-plane rules are extraction's
(kb/control.py): one submitter per repair scope (advisory lock), claims ``FOR UPDATE SKIP
LOCKED``, a job row with owner and lease, guarded transitions, and one ingester holding
the job row while the results merge into the same extractor version's rows. Afterwards
the shard's gates are evaluated again. SQL: kb/repair.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from psycopg.types.json import Jsonb

from polymath_assets.extraction import runner
from polymath_assets.extraction.parse import OK, parse_output_line
from polymath_assets.extraction.prompt import repair_items_block
from polymath_assets.extraction.requests import build_request, fixed_prompt_chars
from polymath_assets.extraction.results import ResultStats, concept_rows
from polymath_assets.extraction.runner import ExtractionSettings
from polymath_assets.gemini.client import BatchClient
from polymath_assets.kb import control, ledger
from polymath_assets.kb import repair as sql
from polymath_assets.kb.concepts import Outcome, load_concepts, record_outcomes
from polymath_assets.kb.quality import extraction_metrics, extraction_metrics_by_shard
from polymath_assets.qc.gates import GateResult, Thresholds, evaluate

PURPOSE = "repair"
REPAIR_INSTRUCTION = (
    " Repair: the items listed after the passage were given for it before but cannot be found in it as "
    "written. Answer for those items only: copy each exactly as it is written in the passage, or leave it "
    "out if the passage does not mention it.")


def build_repair_request(payload: tuple[str, list, str], settings) -> dict:
    """The request of one repair: for unlocated items the extraction request with the
    repair instruction and the items; for a failed request the extraction request again."""
    kind, items, text = payload
    request = build_request(text, settings)
    if kind == "unlocated":
        request["systemInstruction"] = {"parts": [{"text": settings.system_instruction + REPAIR_INSTRUCTION}]}
        listed = [{"text": i["text"], "type": i["type"], "name": i["name"]} for i in items]
        request["contents"][0]["parts"][0]["text"] += "\n" + repair_items_block(listed)
    return request


def held_back(gates: dict[int, list[GateResult]]) -> dict[int, list[str]]:
    """shard -> names of the gates it fails, for the shards that fail any."""
    return {shard: [g.name for g in found if not g.passed] for shard, found in gates.items()
            if any(not g.passed for g in found)}


@dataclass
class RepairResult:
    scope: str
    registered: dict[str, int] = field(default_factory=dict)
    job_ids: list[int] = field(default_factory=list)   # repair jobs submitted by this call
    requests: int = 0                                   # passages sent by this call
    estimated_usd: float = 0.0
    actual_usd: float = 0.0                             # of the repair jobs this call ingested
    rows_replaced: int = 0                              # unlocated rows removed
    rows_loaded: int = 0                                # repaired or re-extracted rows added
    outcomes: dict[str, int] = field(default_factory=dict)
    held_back_before: dict[int, list[str]] = field(default_factory=dict)  # shard -> failed gates
    gates_after: dict[int, list[GateResult]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def held_back_after(self) -> dict[int, list[str]]:
        return held_back(self.gates_after)

    @property
    def passed(self) -> bool:
        return not self.held_back_after

    @property
    def repaired_shards(self) -> list[int]:
        """Shards that were held back before the round and pass every gate after it."""
        return sorted(s for s in self.held_back_before if s in self.gates_after and s not in self.held_back_after)

    def lines(self) -> list[str]:
        """What the round did, for the terminal and the run's log."""
        out = list(self.notes)
        out.append(f"repair {self.scope}: registered {self.registered}; {self.requests} passages sent in "
                   f"{len(self.job_ids)} job(s), estimated ${self.estimated_usd:.4f}, actual ${self.actual_usd:.4f}; "
                   f"{self.rows_replaced} unlocated rows replaced, {self.rows_loaded} rows loaded; "
                   f"outcomes {self.outcomes}")
        out += [f"shard {shard}: held back before the repair ({', '.join(failed)})"
                for shard, failed in sorted(self.held_back_before.items())]
        out += [f"shard {shard}: still held back ({', '.join(failed)})"
                for shard, failed in sorted(self.held_back_after.items())]
        if self.passed:
            out.append(f"repair {self.scope}: every shard concerned passes its gates")
        return out


def repair(conn: psycopg.Connection, client: BatchClient, s: ExtractionSettings, shard: int | None = None, *,
           max_attempts: int = 2, thresholds: Thresholds | None = None, poll_interval_s: float = 5.0,
           timeout_s: float | None = None, progress: Callable[[str], None] = lambda _: None) -> RepairResult:
    """One repair round for ``shard`` (None: every shard of the version): register what
    needs a repair, submit it as one repair job (unless another process is doing so for
    this scope, or a repair job of it is in flight), wait for the scope's repair jobs and
    merge their results, then evaluate the gates of the shards concerned again."""
    scope = "all" if shard is None else f"shard-{shard}"
    result = RepairResult(scope)
    thresholds = thresholds or Thresholds()
    result.held_back_before = held_back(_gates(conn, s, shard, thresholds))
    _recover(conn, client, s, result, progress)
    # One submitter per repair scope; a second process waits for it, then finds the
    # passages registered and in flight, submits nothing and waits for the same job.
    with control.scope_lock(conn, s.version, f"{PURPOSE}-{scope}", wait=True):
        result.registered = sql.register(conn, version=s.version, shard=shard, max_attempts=max_attempts,
                                         request_max_attempts=s.max_attempts)
        conn.commit()
        _submit(conn, client, s, shard, max_attempts, result, progress)
    _settle(conn, client, s, shard, result, poll_interval_s, timeout_s, progress)
    result.gates_after = _gates(conn, s, shard, thresholds)
    return result


def _gates(conn: psycopg.Connection, s: ExtractionSettings, shard: int | None,
           thresholds: Thresholds) -> dict[int, list[GateResult]]:
    """shard -> its gates: the one shard's, or every shard's from one grouped pass."""
    by_shard = ({shard: extraction_metrics(conn, s.version, shard)} if shard is not None
                else extraction_metrics_by_shard(conn, s.version))
    conn.commit()
    return {sh: evaluate(metrics, thresholds, empty_passes=True) for sh, metrics in by_shard.items()}


def _submit(conn: psycopg.Connection, client: BatchClient, s: ExtractionSettings, shard: int | None,
            max_attempts: int, result: RepairResult, progress) -> None:
    active = ledger.jobs(conn, s.version, control.ENQUEUED_STATES, shard=shard, purpose=PURPOSE)
    conn.commit()
    if active:
        result.notes.append(f"repair job {active[0].job_id} is still in flight")
        return
    stale = sql.settle_stale(conn, version=s.version, shard=shard, request_max_attempts=s.max_attempts)
    conn.commit()
    if stale:
        result.notes.append(f"{stale} repair requests settled without a repair: their passages no longer need one")
    control.lock_gate(conn)  # the same gate as extraction: claims, caps and the reservation together
    enqueued, room_chars = runner.enqueued_room(conn, s)
    job_id = control.create_job(conn, version=s.version, shard=shard, provider=client.provider, model=s.model,
                                owner=s.owner, lease_s=s.lease_s, purpose=PURPOSE)
    claim = sql.claim(conn, version=s.version, shard=shard, job_id=job_id, max_attempts=max_attempts,
                      request_max_attempts=s.max_attempts,
                      fixed_chars=fixed_prompt_chars(s.request) + len(REPAIR_INSTRUCTION), room_chars=room_chars)
    if not claim.claimed:
        conn.rollback()
        result.notes.append(f"repair {runner.cap_deferral(s, 'the repair round', enqueued)}; run the same command "
                            "again once jobs finish" if claim.candidates else "nothing to repair")
        return
    usd = runner.reserve_within_budget(conn, s, job_id=job_id, shard=shard, requests=claim.claimed,
                                       prompt_chars=claim.prompt_chars)
    conn.commit()
    try:
        runner._build_and_create(conn, client, s, shard, job_id, claim, usd, rows=sql.job_requests(conn, job_id),
                                 build=build_repair_request, purpose=PURPOSE)
    except BaseException:
        runner._give_up(conn, job_id, s.owner)
        raise
    if claim.claimed < claim.candidates:
        result.notes.append(f"{claim.candidates - claim.claimed} repairs wait for the next round: no room for them "
                            f"under POLYMATH_MAX_ENQUEUED_TOKENS={s.max_enqueued_tokens:,}; run the same command again")
    result.job_ids.append(job_id)
    result.requests += claim.claimed
    result.estimated_usd += usd
    progress(f"repair job {job_id}: submitted {claim.claimed} passages (≈${usd:.4f})")


def _releaser(s: ExtractionSettings):
    """How a repair job that failed as a whole, or never reached the provider, gives its
    requests back (runner.refresh and runner.recover call it with conn, job id, note)."""
    return lambda conn, job_id, note: sql.release(conn, job_id, note, s.max_attempts)


def _recover(conn: psycopg.Connection, client: BatchClient, s: ExtractionSettings, result: RepairResult,
             progress) -> None:
    """Repair jobs a crash left being built, settled as extraction's are."""
    for note in runner.recover(conn, client, s, purpose=PURPOSE, release=_releaser(s)):
        result.notes.append(note)
        progress(note)


def _settle(conn: psycopg.Connection, client: BatchClient, s: ExtractionSettings, shard: int | None,
            result: RepairResult, poll_interval_s: float, timeout_s: float | None, progress) -> None:
    """Poll the scope's repair jobs and merge each finished one, until none is in flight; a
    job a crashed process left being built is recovered once its lease is out."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        jobs = ledger.jobs(conn, s.version, control.ENQUEUED_STATES + ("succeeded",), shard=shard, purpose=PURPOSE)
        conn.commit()
        if not jobs:
            return
        if any(job.state in control.BUILDING_STATES for job in jobs):
            _recover(conn, client, s, result, progress)
        for job in jobs:
            if job.state in control.BUILDING_STATES:
                continue  # its owner is still creating it, or it was recovered just now
            if job.state != "succeeded":
                status = runner.refresh(conn, client, s, job, release=_releaser(s))
                if status.state in ledger.TERMINAL_FAILED_STATES:
                    progress(f"repair job {job.job_id}: {status.state}; its repairs wait for the next round")
                if status.state != "succeeded":
                    continue
            merged = _ingest(conn, client, s, job, result)
            if merged is not None:
                progress(f"repair job {job.job_id}: merged, outcomes {merged}")
        if deadline is not None and time.monotonic() > deadline:
            result.notes.append("stopped waiting: a repair job is still in flight; run the same command again")
            return
        time.sleep(poll_interval_s)


def _ingest(conn: psycopg.Connection, client: BatchClient, s: ExtractionSettings, job: ledger.Job,
            result: RepairResult) -> dict[str, int] | None:
    """Merge a succeeded repair job in one transaction holding its row; None when another
    process holds it or already did. Unlocated rows give way to the repaired ones; a
    failed request's answer is recorded as extraction's (done, failed or dead)."""
    ctx = s.result_context()
    stats = ResultStats()
    conn.commit()
    with conn.transaction():
        output_file = control.hold_for_ingest(conn, job.job_id)
        if output_file is None:
            return None
        path = runner._download(client, s, output_file, job.job_id)
        targets = sql.job_targets(conn, job.job_id)
        rows, repaired, errors, outcomes = [], {}, {}, []
        seen = set()
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if not line.strip():
                    continue
                parsed = parse_output_line(line, ctx.concept_types, ctx.max_name_chars, ctx.compact)
                target = targets.get(parsed.key or "")
                stats.lines += 1
                if target is None or parsed.key in seen:
                    stats.unknown_keys += 1
                    continue
                seen.add(parsed.key)
                kind, _, text = target
                stats.outcomes[parsed.outcome] += 1
                stats.prompt_tokens += parsed.prompt_tokens
                stats.output_tokens += parsed.output_tokens
                stats.cached_tokens += parsed.cached_tokens
                if parsed.outcome != OK:
                    errors[parsed.key] = f"{parsed.outcome}: {parsed.error}"
                    if kind == "failed":
                        outcomes.append(Outcome(parsed.key, False, 0, errors[parsed.key]))
                    continue
                found = concept_rows(parsed.key, text, parsed.concepts, ctx)
                if kind == "unlocated":  # copied as written, or dropped: never an unlocated row again
                    found = [r for r in found if any(sp["start"] is not None for sp in r.evidence["support"])]
                else:
                    outcomes.append(Outcome(parsed.key, True, len(found), None))
                rows += found
                repaired[parsed.key] = len(found)
        for key, (kind, _, _) in targets.items():
            if key not in seen:
                errors[key] = "no result line for this repair"
                stats.missing_keys += 1
                if kind == "failed":
                    outcomes.append(Outcome(key, False, 0, errors[key]))
        replaced = sql.merge_unlocated(conn, version=s.version, job_id=job.job_id, answered=list(repaired))
        loaded = load_concepts(conn, iter(rows))
        counts = record_outcomes(conn, version=s.version, job_id=job.job_id, outcomes=outcomes,
                                 max_attempts=s.max_attempts)
        settled = sql.finish(conn, version=s.version, job_id=job.job_id, repaired=repaired, errors=errors)
        stats.concepts = loaded
        actual = s.prices.cost(stats.prompt_tokens, stats.output_tokens, stats.cached_tokens)
        control.transition(conn, job.job_id, expected="succeeded", state="ingested", ingested_at=runner._now(),
                           prompt_tokens=stats.prompt_tokens, output_tokens=stats.output_tokens,
                           actual_cost_usd=actual, result_stats=Jsonb(stats.as_dict()))
        control.record_actual(conn, job.job_id, actual, stats.prompt_tokens, stats.output_tokens)
    conn.commit()
    result.actual_usd += actual
    result.rows_replaced += replaced
    result.rows_loaded += loaded
    for status, n in {**counts, **{f"repair {k}": v for k, v in settled.items()}}.items():
        result.outcomes[status] = result.outcomes.get(status, 0) + n
    return settled
