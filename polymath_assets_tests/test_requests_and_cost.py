import json
import tracemalloc

import pytest

from polymath_assets.corpus.lexicon import CONCEPT_TYPES
from polymath_assets.extraction.cost import Prices, calibrate, estimate_cost
from polymath_assets.extraction.prompt import passage_from_prompt
from polymath_assets.extraction.requests import RequestSettings, request_key, write_request_file

SETTINGS = RequestSettings("gemini-2.5-flash-lite", 0.0, CONCEPT_TYPES)


def test_request_key_changes_with_text_model_and_prompt_but_not_otherwise():
    fp = SETTINGS.fingerprint()
    assert request_key("text", fp) == request_key("text", SETTINGS.fingerprint())
    assert request_key("text", fp) != request_key("text ", fp)
    assert request_key("text", fp) != request_key("text", RequestSettings("gemini-2.5-flash", 0.0, CONCEPT_TYPES).fingerprint())
    assert request_key("text", fp) != request_key("text", RequestSettings(SETTINGS.model, 0.2, CONCEPT_TYPES).fingerprint())


def test_request_file_lines_carry_schema_inside_generation_config(tmp_path):
    stats = write_request_file(tmp_path / "r.jsonl", [("k1", "BERT on SQuAD."), ("k2", "Ünïcode — text\nwith lines")], SETTINGS)
    lines = [json.loads(l) for l in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert stats.requests == 2 and [l["key"] for l in lines] == ["k1", "k2"]
    request = lines[1]["request"]
    assert request["generationConfig"]["responseSchema"]["type"] == "OBJECT"
    assert request["generationConfig"]["responseMimeType"] == "application/json"
    assert passage_from_prompt(request["contents"][0]["parts"][0]["text"]) == "Ünïcode — text\nwith lines"
    assert not (tmp_path / "r.jsonl.partial").exists()


def test_request_file_memory_does_not_grow_with_corpus_size(tmp_path):
    def rows(n):
        return ((f"k{i}", f"Passage {i} about graph neural networks. " * 8) for i in range(n))

    peaks = []
    for n in (2_000, 20_000):
        tracemalloc.start()
        write_request_file(tmp_path / f"r{n}.jsonl", rows(n), SETTINGS)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < peaks[0] * 2  # ten times the rows, not ten times the memory


def test_cost_estimate_and_calibration():
    prices = Prices(0.05, 0.20)
    prompt, output, usd = estimate_cost(1_000_000, 1_800_000_000, 230, prices, chars_per_token=4.0)
    assert (prompt, output) == (450_000_000, 230_000_000)
    assert usd == pytest.approx(450 * 0.05 + 230 * 0.20)
    assert calibrate([(400, 100), (800, 200)]) == 4.0
    assert calibrate([]) == 4.0
