"""The offline Gemini emulator, driven by the real google-genai SDK, and the offline extractor."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from google import genai
from google.genai import errors, types

from polymath_assets.extraction.prompt import SYSTEM_INSTRUCTION, response_schema, user_prompt
from polymath_assets.gemini import offline_extractor
from polymath_assets.gemini.emulator import FAULTS_ENV, MODEL_VERSION, Faults, GeminiEmulator

MODEL = "gemini-2.5-flash-lite"
PASSAGES = [
    "We train a graph neural network (GNN) with contrastive learning on ImageNet and report the F1 score.",
    "Single-cell RNA sequencing of T cells in the hippocampus reveals a batch effect correction problem.",
    "AlphaFold2 improves protein structure prediction on the Protein Data Bank; RMSD drops sharply.",
    "Bayesian optimization tunes XGBoost for anomaly detection in medical imaging with the MLP baseline.",
    "Density functional theory and molecular dynamics simulation of graphene in materials science.",
]


def _request(passage: str) -> dict:
    return {
        "contents": [{"role": "user", "parts": [{"text": user_prompt(passage)}]}],
        "systemInstruction": {"parts": [{"text": SYSTEM_INSTRUCTION}]},
        "generationConfig": {"temperature": 0, "responseMimeType": "application/json",
                             "responseSchema": response_schema()},
    }


@pytest.fixture
def emulator(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv(FAULTS_ENV, raising=False)
    with GeminiEmulator(state_dir=tmp_path / "state") as running:
        yield running


@pytest.fixture
def client(emulator):
    return genai.Client(api_key="test-key", http_options=types.HttpOptions(
        base_url=emulator.base_url, api_version="v1beta"))


def _upload(client, tmp_path, passages: dict[str, str], mime_type: str = "application/jsonl") -> types.File:
    path = tmp_path / "input.jsonl"
    path.write_text("".join(json.dumps({"key": key, "request": _request(text)}) + "\n"
                            for key, text in passages.items()))
    return client.files.upload(file=path, config=types.UploadFileConfig(mime_type=mime_type, display_name="input"))


def _run_file_batch(client, tmp_path, passages: dict[str, str]) -> tuple[types.BatchJob, list[dict]]:
    uploaded = _upload(client, tmp_path, passages)
    job = client.batches.create(model=MODEL, src=uploaded.name, config={"display_name": "test batch"})
    job = client.batches.get(name=job.name)
    lines = []
    if job.dest and job.dest.file_name:
        data = client.files.download(file=job.dest.file_name)
        lines = [json.loads(line) for line in data.decode().splitlines()]
    return job, lines


def _raw(emulator, path: str, method: str = "GET", key: str | None = "test-key") -> tuple[int, dict]:
    request = urllib.request.Request(emulator.base_url + path, method=method,
                                     headers={"x-goog-api-key": key} if key else {})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _text(line: dict) -> str:
    return line["response"]["candidates"][0]["content"]["parts"][0]["text"]


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def _passages(count: int) -> dict[str, str]:
    return {f"k{i:03d}": PASSAGES[i % len(PASSAGES)] + f" Run {i}." for i in range(count)}


# --- offline extractor ---------------------------------------------------------------------

def test_extract_is_deterministic_and_quotes_verbatim():
    for passage in PASSAGES:
        result = offline_extractor.extract(passage)
        assert result == offline_extractor.extract(passage)
        assert result["concepts"]
        for concept in result["concepts"]:
            assert set(concept) == {"name", "type", "aliases", "confidence", "quotes"}
            assert concept["type"] in response_schema()["properties"]["concepts"]["items"]["properties"]["type"]["enum"]
            assert 0.55 <= concept["confidence"] <= 0.98
            assert 1 <= len(concept["quotes"]) <= 2
            assert all(quote in passage for quote in concept["quotes"])
        names = [concept["name"] for concept in result["concepts"]]
        assert len(names) == len(set(names))


def test_extract_types_lexicon_terms_and_acronyms():
    concepts = {c["name"]: c for c in offline_extractor.extract(PASSAGES[0] + " Graph Neural Network again.")["concepts"]}
    gnn = concepts["graph neural network"]
    assert gnn["type"] == "method" and gnn["aliases"] == ["GNN"] and 0.72 <= gnn["confidence"] <= 0.98
    assert len(gnn["quotes"]) == 2 and gnn["quotes"][1].lower().startswith("graph neural network")
    assert concepts["ImageNet"]["type"] == "dataset" and concepts["F1 score"]["type"] == "metric"
    assert "GNN" not in concepts  # an alias, not a separate entity
    mlp = {c["name"]: c for c in offline_extractor.extract(PASSAGES[3])["concepts"]}["MLP"]
    assert mlp["type"] == "model" and 0.55 <= mlp["confidence"] <= 0.7  # a well-known acronym, typed


def test_answer_reads_the_passage_and_counts_tokens():
    request = _request(PASSAGES[2])
    text, usage = offline_extractor.answer(request)
    assert json.loads(text) == offline_extractor.extract(PASSAGES[2])
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert usage["candidatesTokenCount"] == len(text) // 4
    snake = {"contents": request["contents"], "system_instruction": request["systemInstruction"]}
    assert offline_extractor.answer(snake) == (text, usage)


# --- batches through the SDK -------------------------------------------------------------

@pytest.mark.parametrize("mime_type", ["application/jsonl", "text/plain", "application/json"])
def test_upload_get_list_delete_file(client, tmp_path, mime_type):
    uploaded = _upload(client, tmp_path, {"a": PASSAGES[0]}, mime_type)
    assert re.fullmatch(r"files/[a-z0-9]{12}", uploaded.name)
    assert uploaded.mime_type == mime_type and uploaded.display_name == "input"
    assert uploaded.size_bytes == (tmp_path / "input.jsonl").stat().st_size
    assert uploaded.uri.startswith("https://generativelanguage.googleapis.com/v1beta/files/")
    assert client.files.get(name=uploaded.name).sha256_hash == uploaded.sha256_hash
    assert [f.name for f in client.files.list()] == [uploaded.name]
    client.files.delete(name=uploaded.name)
    with pytest.raises(errors.ClientError) as raised:
        client.files.get(name=uploaded.name)
    assert raised.value.code == 404


def test_file_batch_answers_every_key(client, emulator, tmp_path):
    passages = dict(zip("abcde", PASSAGES))
    job, lines = _run_file_batch(client, tmp_path, passages)
    assert re.fullmatch(r"batches/[a-z0-9]{36}", job.name)
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED and job.display_name == "test batch"
    assert job.dest.file_name == "files/batch-" + job.name.removeprefix("batches/")
    assert sorted(line["key"] for line in lines) == sorted(passages)
    for line in lines:
        candidate = line["response"]["candidates"][0]
        assert candidate["finishReason"] == "STOP" and line["response"]["modelVersion"] == MODEL_VERSION
        assert json.loads(_text(line)) == offline_extractor.extract(passages[line["key"]])
        for concept in json.loads(_text(line))["concepts"]:
            assert all(quote in passages[line["key"]] for quote in concept["quotes"])
    status, operation = _raw(emulator, "/v1beta/" + job.name)
    assert status == 200 and operation["done"] is True
    assert operation["metadata"]["batchStats"] == {"requestCount": "5", "successfulRequestCount": "5"}
    assert operation["metadata"]["@type"].endswith("GenerateContentBatch")
    assert operation["response"]["responsesFile"] == job.dest.file_name
    # The documented download path serves the same bytes as the SDK's.
    docs_path = f"/download/v1beta/files/{job.dest.file_name.removeprefix('files/')}:download?alt=media"
    with urllib.request.urlopen(urllib.request.Request(emulator.base_url + docs_path,
                                                       headers={"x-goog-api-key": "k"})) as response:
        assert [json.loads(line) for line in response.read().decode().splitlines()] == lines


def test_inline_batch(client):
    src = [{"contents": [{"role": "user", "parts": [{"text": user_prompt(text)}]}], "metadata": {"key": key}}
           for key, text in zip("xy", PASSAGES)]
    job = client.batches.create(model=MODEL, src=src, config={"display_name": "inline"})
    job = client.batches.get(name=job.name)
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED
    answers = {item.metadata["key"]: item.response.text for item in job.dest.inlined_responses}
    assert answers == {key: json.dumps(offline_extractor.extract(text), ensure_ascii=False)
                       for key, text in zip("xy", PASSAGES)}


def test_list_pages_through_every_job(client):
    created = {client.batches.create(model=MODEL, src=[{"contents": [{"parts": [{"text": p}]}]}]).name
               for p in PASSAGES}
    pager = client.batches.list(config={"page_size": 2})
    assert len(pager.page) == 2
    assert {job.name for job in pager} == created


def test_job_clock_cancel_delete_and_expiry(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    now = [1000.0]
    with GeminiEmulator(state_dir=tmp_path, pending_s=10, running_s=10, expire_after_s=100,
                        clock=lambda: now[0], faults=Faults()) as emulator:
        client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=emulator.base_url,
                                                                          api_version="v1"))
        src = [{"contents": [{"parts": [{"text": PASSAGES[0]}]}]}]
        job, doomed = (client.batches.create(model=MODEL, src=src).name for _ in range(2))
        states = []
        for step in (0, 10, 10):
            now[0] += step
            states.append(client.batches.get(name=job).state)
        assert states == [types.JobState.JOB_STATE_PENDING, types.JobState.JOB_STATE_RUNNING,
                          types.JobState.JOB_STATE_SUCCEEDED]
        client.batches.cancel(name=doomed)  # too late: it already finished
        assert client.batches.get(name=doomed).state == types.JobState.JOB_STATE_SUCCEEDED
        pending = client.batches.create(model=MODEL, src=src).name
        client.batches.cancel(name=pending)
        assert client.batches.get(name=pending).state == types.JobState.JOB_STATE_CANCELLED
        client.batches.delete(name=pending)
        with pytest.raises(errors.ClientError) as raised:
            client.batches.get(name=pending)
        assert raised.value.code == 404

        emulator.running_s = 1000  # jobs created from now on outlive expire_after_s
        stuck = client.batches.create(model=MODEL, src=src).name
        now[0] += 100
        stuck_job = client.batches.get(name=stuck)
        assert stuck_job.state == types.JobState.JOB_STATE_EXPIRED and stuck_job.dest is None


def test_count_tokens(client):
    response = client.models.count_tokens(model=MODEL, contents=PASSAGES[0])
    assert response.total_tokens == len(PASSAGES[0]) // 4


def test_api_key_is_required(emulator):
    status, body = _raw(emulator, "/v1beta/batches", key=None)
    assert status == 403 and body["error"]["status"] == "PERMISSION_DENIED"
    assert _raw(emulator, "/v1/batches")[0] == 200


# --- faults --------------------------------------------------------------------------------

def test_rate_limited_create_raises_429(client, emulator):
    emulator.faults.rate_limit_creates = 1
    src = [{"contents": [{"parts": [{"text": PASSAGES[0]}]}]}]
    with pytest.raises(errors.ClientError) as raised:
        client.batches.create(model=MODEL, src=src)
    assert raised.value.code == 429 and raised.value.status == "RESOURCE_EXHAUSTED"
    assert client.batches.create(model=MODEL, src=src).name.startswith("batches/")


def test_failed_job_carries_the_error_in_the_raw_operation(client, emulator, tmp_path):
    emulator.faults.fail_jobs = 1
    job, lines = _run_file_batch(client, tmp_path, {"a": PASSAGES[0]})
    assert job.state == types.JobState.JOB_STATE_FAILED and lines == []
    operation = _raw(emulator, "/v1beta/" + job.name)[1]
    assert operation["done"] is True and "response" not in operation
    assert operation["error"]["code"] == 8 and "Enqueued token quota" in operation["error"]["message"]
    assert operation["metadata"]["state"] == "BATCH_STATE_FAILED"


@pytest.mark.parametrize("fault, state", [("expire_jobs", "JOB_STATE_EXPIRED"), ("cancel_jobs", "JOB_STATE_CANCELLED")])
def test_forced_job_outcomes(client, emulator, tmp_path, fault, state):
    setattr(emulator.faults, fault, 1)
    job, lines = _run_file_batch(client, tmp_path, {"a": PASSAGES[0]})
    assert job.state == state and job.dest is None and lines == []
    assert _run_file_batch(client, tmp_path, {"a": PASSAGES[0]})[0].state == types.JobState.JOB_STATE_SUCCEEDED


def test_shuffled_output_has_every_key_once(client, emulator, tmp_path):
    emulator.faults.shuffle_output = True
    passages = _passages(30)
    _, lines = _run_file_batch(client, tmp_path, passages)
    keys = [line["key"] for line in lines]
    assert sorted(keys) == sorted(passages) and keys != sorted(passages)


def test_malformed_share_is_deterministic_and_retries_can_succeed(client, emulator, tmp_path):
    emulator.faults = Faults(malformed_json_share=0.1, seed=7)
    passages = _passages(200)
    _, first = _run_file_batch(client, tmp_path, passages)
    bad_first = {line["key"] for line in first if not _parses(_text(line))}
    assert 10 <= len(bad_first) <= 30
    assert len(bad_first) == sum(Faults(malformed_json_share=0.1, seed=7).request_fault(1, k) == "malformed"
                                 for k in passages)
    _, second = _run_file_batch(client, tmp_path, {key: passages[key] for key in bad_first})
    assert len({line["key"] for line in second if _parses(_text(line))}) > len(bad_first) // 2


def test_request_level_faults(client, emulator, tmp_path):
    emulator.faults = Faults(request_error_share=0.2, max_tokens_share=0.2, empty_share=0.2,
                             bad_output_keys={"k000"}, seed=1)
    job, lines = _run_file_batch(client, tmp_path, _passages(100))
    errors_ = [line for line in lines if "error" in line]
    assert errors_ and {line["error"]["code"] for line in errors_} == {8, 13}
    responses = {line["key"]: line["response"] for line in lines if "response" in line}
    truncated = [r for r in responses.values() if r.get("candidates", [{}])[0].get("finishReason") == "MAX_TOKENS"]
    assert truncated and not any(_parses(r["candidates"][0]["content"]["parts"][0]["text"]) for r in truncated)
    assert any("candidates" not in r for r in responses.values())
    assert not _parses(responses["k000"]["candidates"][0]["content"]["parts"][0]["text"])
    stats = _raw(emulator, "/v1beta/" + job.name)[1]["metadata"]["batchStats"]
    assert stats == {"requestCount": "100", "successfulRequestCount": str(len(responses)),
                     "failedRequestCount": str(len(errors_))}


def test_faults_from_env(monkeypatch):
    monkeypatch.setenv(FAULTS_ENV, json.dumps({"fail_jobs": 2, "bad_output_keys": ["a"], "shuffle_output": True}))
    assert Faults.from_env() == Faults(fail_jobs=2, bad_output_keys={"a"}, shuffle_output=True)


def test_command_line_prints_the_base_url(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "polymath_assets.gemini.emulator", "--state-dir",
                                str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+\n", process.stdout.readline())
    finally:
        process.terminate()
        process.wait(timeout=10)
