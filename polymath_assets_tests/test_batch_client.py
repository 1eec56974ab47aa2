"""The batch client against the emulator through the real SDK: what the SDK hides, how
errors reach the operator, the MIME-type fallback, and every call's deadline."""

import json
import time

import pytest

from polymath_assets.gemini.client import (
    LIST_PAGES_MAX,
    MIN_ATTEMPT_S,
    BatchClient,
    ProviderError,
    ProviderTimeout,
    call_budget,
    job_status_from_operation,
    worst_wait_s,
)
from polymath_assets.gemini.emulator import FAULTS_ENV, Faults


@pytest.fixture
def request_file(tmp_path):
    path = tmp_path / "requests.jsonl"
    line = {"key": "k1", "request": {"contents": [{"role": "user", "parts": [{"text": "<passage>\nBERT on SQuAD.\n</passage>"}]}]}}
    path.write_text(json.dumps(line) + "\n")
    return path


def test_upload_falls_back_to_text_plain_when_jsonl_is_refused(client, emulator, request_file):
    emulator.faults = Faults(reject_mime_types={"jsonl"})
    name = client.upload(request_file, "requests")
    assert client._client.files.get(name=name).mime_type == "text/plain"


def test_raw_operation_gives_stats_and_the_job_error(client, emulator, request_file):
    name = client.create("gemini-2.5-flash-lite", client.upload(request_file, "r"), "ok-job")
    status = client.status(name)
    assert (status.state, status.request_count, status.succeeded_count) == ("succeeded", 1, 1)
    assert status.output_file and status.error is None

    emulator.faults = Faults(fail_jobs=1)
    failed = client.status(client.create("gemini-2.5-flash-lite", client.upload(request_file, "r"), "bad-job"))
    assert failed.state == "failed" and "Enqueued token quota exceeded" in failed.error
    assert client.find_by_display_name("bad-job") is not None and client.find_by_display_name("nope") is None


def test_429_on_create_becomes_an_operator_message(client, emulator, request_file):
    emulator.faults = Faults(rate_limit_creates=5)
    with pytest.raises(ProviderError, match="429 RESOURCE_EXHAUSTED.*run again; nothing was lost") as err:
        client.create("gemini-2.5-flash-lite", client.upload(request_file, "r"), "job")
    assert err.value.code == 429


def test_missing_key_is_refused_before_any_call():
    with pytest.raises(ProviderError, match="set GEMINI_API_KEY"):
        BatchClient("")


@pytest.mark.parametrize("operation, expected", [
    ({"metadata": {"state": "BATCH_STATE_RUNNING", "batchStats": {"requestCount": "4", "pendingRequestCount": "4"}}},
     ("running", 4, 0, 0, None, None)),
    ({"metadata": {"state": "BATCH_STATE_SUCCEEDED", "batchStats": {"requestCount": "2", "successfulRequestCount": "1",
                                                                     "failedRequestCount": "1"},
                   "output": {"responsesFile": "files/batch-x"}}, "done": True},
     ("succeeded", 2, 1, 1, "files/batch-x", None)),
    ({"metadata": {"state": "BATCH_STATE_EXPIRED"}, "done": True}, ("expired", 0, 0, 0, None, None)),
    ({"metadata": {"state": "BATCH_STATE_FAILED"}, "error": {"code": 8, "message": "quota"}},
     ("failed", 0, 0, 0, None, "8: quota")),
])
def test_operation_parsing(operation, expected):
    s = job_status_from_operation(operation)
    assert (s.state, s.request_count, s.succeeded_count, s.failed_count, s.output_file, s.error) == expected


@pytest.mark.parametrize("mode", ["drop", "503"])
def test_an_ambiguous_create_adopts_the_job_instead_of_creating_another(client, emulator, request_file, mode):
    """The job is created but the reply is lost: the client finds it by its name and input
    file and returns it; the emulator holds exactly one job."""
    emulator.faults = Faults(ambiguous_creates=1, ambiguous_create_mode=mode)
    file_name = client.upload(request_file, "r")
    name = client.create("gemini-2.5-flash-lite", file_name, "polymath-v-shard-001-job-7")
    assert emulator.faults.ambiguous_creates == 0  # the reply really was lost once
    jobs = emulator.job_records()
    assert [j.name for j in jobs] == [name]
    assert jobs[0].request_keys == ("k1",) and jobs[0].display_name == "polymath-v-shard-001-job-7"


def test_an_ambiguous_create_that_made_nothing_is_tried_again(client, emulator, request_file, monkeypatch):
    """A 503 before the job exists (a real outage): the lookup finds nothing, so creation is
    tried again, once per attempt, never blindly."""
    from polymath_assets.gemini.emulator.store import ApiError

    real_create, calls = emulator.jobs.create, []

    def outage_then_ok(model, batch):
        calls.append(1)
        if len(calls) == 1:
            raise ApiError(503, "UNAVAILABLE", "The service is currently unavailable.")
        return real_create(model, batch)

    monkeypatch.setattr(emulator.jobs, "create", outage_then_ok)
    name = client.create("gemini-2.5-flash-lite", client.upload(request_file, "r"), "job-x", backoff_s=0)
    assert len(calls) == 2 and [j.name for j in emulator.job_records()] == [name]


def test_duplicates_found_on_adoption_are_cancelled(client, emulator, request_file):
    file_name = client.upload(request_file, "r")
    emulator.pending_s = 3600  # both stay in flight
    first = client._client.batches.create(model="gemini-2.5-flash-lite", src=file_name,
                                          config={"display_name": "dup"}).name
    second = client._client.batches.create(model="gemini-2.5-flash-lite", src=file_name,
                                           config={"display_name": "dup"}).name
    kept = client.adopt("dup", file_name)
    states = {j.name: j.state for j in emulator.job_records()}
    assert kept == second and states == {first: "CANCELLED", second: "PENDING"}


def test_a_create_that_keeps_failing_names_the_attempt_that_gave_up(client, emulator, request_file, monkeypatch):
    from polymath_assets.gemini.emulator.store import ApiError

    def outage(model, batch):
        raise ApiError(503, "UNAVAILABLE", "The service is currently unavailable.")

    monkeypatch.setattr(emulator.jobs, "create", outage)
    with pytest.raises(ProviderError, match=r"^batch creation \(attempt 3 of 3, \d+ s after the first began\) "
                                            r"failed \(ServerError 503\)") as err:
        client.create("gemini-2.5-flash-lite", client.upload(request_file, "r"), "job-y", backoff_s=0)
    assert err.value.ambiguous and emulator.job_records() == []


def test_quota_failed_job_carries_the_enqueued_token_error(client, emulator, request_file):
    emulator.faults = Faults(quota_fail_jobs=1)
    status = client.status(client.create("gemini-2.5-flash-lite", client.upload(request_file, "r"), "q"))
    assert status.state == "failed" and status.error.startswith("8: Enqueued token quota exceeded")


def test_pending_hold_keeps_jobs_pending(client, emulator, request_file):
    emulator.faults = Faults(hold_pending_s=3600)
    status = client.status(client.create("gemini-2.5-flash-lite", client.upload(request_file, "r"), "held"))
    assert status.state == "pending"


# ---- deadlines ------------------------------------------------------------------------------

@pytest.mark.parametrize("total_s", [0.5, 1, 2, 3, 6, 12, 20, 55, 120, 600])
@pytest.mark.parametrize("attempts", [1, 2, 5, 8])
def test_the_retry_budget_fits_inside_the_deadline(total_s, attempts):
    budget = call_budget(total_s, attempts)
    worst = budget.attempts * budget.attempt_s + sum(worst_wait_s(k) for k in range(1, budget.attempts))
    assert 1 <= budget.attempts <= attempts and worst <= total_s + 1e-9
    assert budget.attempt_s >= min(MIN_ATTEMPT_S, total_s) - 1e-9
    options = budget.http_options()
    assert options.timeout == int(budget.attempt_s * 1000) and options.retry_options.attempts == budget.attempts


def test_the_default_deadline_keeps_five_attempts():
    budget = BatchClient("k", base_url="http://127.0.0.1:9").budget
    assert (budget.total_s, budget.attempts) == (120, 5) and budget.attempt_s > 20
    with pytest.raises(ValueError):
        call_budget(0, 5)


def _held_job(emulator, request_file) -> tuple[BatchClient, str]:
    """A client with a 6 s deadline (two attempts of 2 s: the budget's worst case is 6 s), a
    finished job, and every status call held from now on."""
    client = BatchClient("offline-emulator", base_url=emulator.base_url, provider="gemini-emulator", timeout_s=6)
    assert (client.budget.attempts, client.budget.attempt_s) == (2, 2.0)
    name = client.create("gemini-2.5-flash-lite", client.upload(request_file, "r"), "held-status")
    emulator.hold_status(True)
    return client, name


def test_a_status_call_held_past_the_timeout_fails_within_the_configured_time(emulator, request_file):
    client, name = _held_job(emulator, request_file)
    started = time.monotonic()
    with pytest.raises(ProviderTimeout) as err:
        client.status(name)
    # Both attempts were held and timed out; that their worst case fits in 6 s is the budget's
    # arithmetic (above). The bound is loose, for a loaded machine, and still fails if the
    # deadline is ignored: the hold never ends by itself.
    assert time.monotonic() - started < 3 * 6
    assert emulator.held_status_calls == 2  # the SDK retried once, inside the deadline
    message = str(err.value)
    assert f"status of {name} timed out after" in message and "no reply within 6 s (2 attempts of at most 2.0 s" \
        in message and "POLYMATH_GEMINI_TIMEOUT_S" in message and "run again" in message
    assert err.value.ambiguous
    emulator.hold_status(False)
    assert client.status(name).state == "succeeded"  # released: answered normally


def test_a_caller_deadline_nearer_than_the_clients_bounds_the_status_call(emulator, request_file):
    client, name = _held_job(emulator, request_file)
    started = time.monotonic()
    with pytest.raises(ProviderTimeout, match=r"no reply within 1 s \(one attempt\)"):
        client.status(name, timeout_s=1.0)
    assert time.monotonic() - started < 3 * 1.0 and emulator.held_status_calls == 1  # one attempt
    with pytest.raises(ProviderTimeout, match="deadline had passed"):
        client.status(name, timeout_s=0)
    emulator.hold_status(False)
    assert client.status(name, timeout_s=1.0).state == "succeeded"


def test_the_hold_status_fault_delays_every_status_call_then_answers(client, emulator, request_file, monkeypatch):
    name = client.create("gemini-2.5-flash-lite", client.upload(request_file, "r"), "slow-status")
    monkeypatch.setenv(FAULTS_ENV, json.dumps({"hold_status_s": 1.0}))  # as a separate emulator process reads it
    emulator.faults = Faults.from_env()
    started = time.monotonic()
    assert client.status(name).state == "succeeded"
    assert time.monotonic() - started >= 1.0 and emulator.held_status_calls == 1


def test_a_job_listing_has_one_deadline_for_all_its_pages(emulator, monkeypatch):
    """Each page answers within a page's own budget, but the listing never ends: it fails
    once the client's deadline is spent, not after LIST_PAGES_MAX full budgets."""
    client = BatchClient("offline-emulator", base_url=emulator.base_url, provider="gemini-emulator", timeout_s=3)
    pages = []

    def slow_endless_listing(page_size, token):
        pages.append(token)
        time.sleep(1.2)
        return {"operations": [], "nextPageToken": f"page-{len(pages)}"}

    monkeypatch.setattr(emulator.jobs, "list", slow_endless_listing)
    started = time.monotonic()
    with pytest.raises(ProviderTimeout, match=r"^listing batch jobs timed out after [\d.]+ s: no reply within 3 s "
                                              r"for the whole listing"):
        client.find_by_display_name("anything")
    assert len(pages) <= 3 < LIST_PAGES_MAX  # a third page gets the 0.6 s left, which its 1.2 s outlasts
    assert time.monotonic() - started < 3 * 3
