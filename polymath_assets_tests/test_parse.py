"""Output-line parsing: every line ends in exactly one outcome, bad concepts are counted."""

import json

import pytest

from polymath_assets.corpus.lexicon import CONCEPT_TYPES
from polymath_assets.extraction.parse import (
    EMPTY,
    OK,
    PARSE_ERROR,
    REQUEST_ERROR,
    TRUNCATED,
    parse_output_line,
)


def line(text=None, key="k1", finish="STOP", usage=None, error=None, candidates=True):
    if error:
        return json.dumps({"key": key, "error": error})
    candidate = {"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": finish}
    response = {"candidates": [candidate] if candidates else [],
                "usageMetadata": usage or {"promptTokenCount": 100, "candidatesTokenCount": 40, "thoughtsTokenCount": 5}}
    return json.dumps({"response": response, "key": key})


GOOD = {"concepts": [
    {"name": "graph neural network", "type": "method", "aliases": ["GNN"], "confidence": 0.9, "quotes": ["graph neural"]},
    {"name": "  BERT ", "type": "Model", "confidence": 1.7, "quotes": ["BERT"]},
    {"name": "", "type": "method", "confidence": 0.9, "quotes": []},
    {"name": "spaceship", "type": "vehicle", "confidence": 0.9, "quotes": []},
    {"name": "x", "type": "method", "confidence": "high", "quotes": []},
    {"name": "graph neural network", "type": "method", "confidence": 0.95, "quotes": ["graph neural network"]},
    {"name": "a" * 61, "type": "problem", "confidence": 0.8, "quotes": ["a"]},
    {"name": "b" * 201, "type": "problem", "confidence": 0.8, "quotes": ["b"]},
    {"name": "no evidence", "type": "method", "confidence": 0.8, "quotes": []},
    {"name": "blank evidence", "type": "method", "confidence": 0.8, "quotes": ["  ", 3]},
]}


def test_valid_answer_keeps_good_concepts_and_counts_rejections():
    parsed = parse_output_line(line(json.dumps(GOOD)), CONCEPT_TYPES)
    assert parsed.outcome == OK and parsed.key == "k1"
    names = {c.name: c for c in parsed.concepts}
    assert set(names) == {"graph neural network", "BERT", "a" * 61}
    assert names["graph neural network"].confidence == 0.95      # duplicate name: best kept
    assert names["BERT"].type == "model" and names["BERT"].confidence == 1.0
    assert dict(parsed.rejected) == {"empty_name": 1, "unknown_type": 1, "bad_confidence": 1,
                                     "name_too_long": 1, "no_quote": 2}
    assert parsed.long_names == 1
    assert (parsed.prompt_tokens, parsed.output_tokens) == (100, 45)   # thinking billed as output


@pytest.mark.parametrize("raw, outcome", [
    (line('{"concepts": [{"name": "BERT", "type"'), PARSE_ERROR),
    (line('["not", "an", "object"]'), PARSE_ERROR),
    (line('{"answer": []}'), PARSE_ERROR),
    (line('{"concepts": []}', finish="MAX_TOKENS"), TRUNCATED),
    (line("   "), EMPTY),
    (line("x", candidates=False), EMPTY),
    (line(error={"code": 13, "message": "internal"}), REQUEST_ERROR),
    ("{broken line", PARSE_ERROR),
])
def test_failed_lines_have_one_outcome_and_a_reason(raw, outcome):
    parsed = parse_output_line(raw, CONCEPT_TYPES)
    assert parsed.outcome == outcome and parsed.error and not parsed.concepts


def test_thought_parts_are_skipped():
    record = json.loads(line("ignored"))
    record["response"]["candidates"][0]["content"]["parts"] = [
        {"text": "thinking...", "thought": True}, {"text": '{"concepts": []}'}]
    assert parse_output_line(json.dumps(record), CONCEPT_TYPES).outcome == OK


def test_name_limit_is_passed_in():
    answer = {"concepts": [{"name": "a" * 61, "type": "problem", "confidence": 0.8, "quotes": ["a"]}]}
    assert parse_output_line(line(json.dumps(answer)), CONCEPT_TYPES).concepts
    parsed = parse_output_line(line(json.dumps(answer)), CONCEPT_TYPES, max_name_chars=60)
    assert not parsed.concepts and dict(parsed.rejected) == {"name_too_long": 1}


def test_name_limit_is_configuration_and_reaches_the_result_reader(tmp_path):
    from polymath_assets.config import Config
    from polymath_assets.extraction.runner import ExtractionSettings

    config = Config.from_env({"POLYMATH_MAX_CONCEPT_NAME_CHARS": "120", "POLYMATH_HOME": str(tmp_path)})
    assert config.max_concept_name_chars == 120
    assert ExtractionSettings.from_config(config).max_concept_name_chars == 120
    assert Config.from_env({"POLYMATH_HOME": str(tmp_path)}).max_concept_name_chars == 200
