"""What each request asks of the model: the output cap, list limits and thinking budget."""

import json

import pytest

from polymath_assets.config import Config
from polymath_assets.corpus.lexicon import CONCEPT_TYPES
from polymath_assets.extraction.prompt import OutputLimits, thinking_config
from polymath_assets.extraction.requests import RequestSettings, build_request


@pytest.mark.parametrize("model, budget, expected", [
    ("gemini-2.5-flash", 0, {"thinkingBudget": 0}),
    ("models/gemini-2.5-flash", 0, {"thinkingBudget": 0}),
    ("gemini-2.5-flash", 512, {"thinkingBudget": 512}),
    ("gemini-2.5-pro", 0, {"thinkingBudget": 128}),       # Pro cannot switch thinking off
    ("gemini-3-flash-preview", 0, {"thinkingLevel": "minimal"}),  # Gemini 3: a level, not a budget
    ("gemini-3-pro-preview", 0, {"thinkingLevel": "low"}),
    ("gemini-2.5-flash-lite", 0, None),                   # does not think by default
    ("gemini-2.0-flash-lite", 0, None),                   # rejects thinkingConfig
    ("gemini-2.5-flash", -1, None),                       # -1: the model's own default
])
def test_thinking_config(model, budget, expected):
    assert thinking_config(model, budget) == expected


def test_requests_carry_the_output_cap_and_list_limits_from_configuration():
    config = Config.from_env({"POLYMATH_GEMINI_MODEL": "gemini-2.5-flash", "POLYMATH_MAX_CONCEPTS": "12",
                              "POLYMATH_MAX_QUOTES": "2", "POLYMATH_MAX_ALIASES": "3",
                              "POLYMATH_PROMPT_VERSION": "concepts-v1"})
    settings = RequestSettings.from_config(config, CONCEPT_TYPES)
    generation = build_request("BERT on SQuAD.", settings)["generationConfig"]
    schema = generation["responseSchema"]["properties"]["concepts"]
    assert schema["maxItems"] == 12
    assert schema["items"]["properties"]["quotes"]["maxItems"] == 2
    assert schema["items"]["properties"]["aliases"]["maxItems"] == 3
    assert generation["thinkingConfig"] == {"thinkingBudget": 0}
    assert generation["maxOutputTokens"] == OutputLimits(12, 2, 3).default_max_output_tokens()
    explicit = RequestSettings.from_config(Config.from_env({"POLYMATH_MAX_OUTPUT_TOKENS": "900"}), CONCEPT_TYPES)
    assert build_request("x", explicit)["generationConfig"]["maxOutputTokens"] == 900
    # a different cap or budget is different work: the request keys change with it
    assert explicit.fingerprint() != RequestSettings.from_config(Config.from_env({}), CONCEPT_TYPES).fingerprint()


def test_the_default_cap_fits_the_largest_answer_the_schema_allows():
    """A maximal answer (every list full, every string at its assumed size) in real JSON
    fits the default cap at a pessimistic 3 characters per token."""
    limits = OutputLimits()
    concept = {"name": "n" * 48, "type": "Method", "aliases": ["a" * 36] * limits.max_aliases, "confidence": 0.95,
               "quotes": ["q" * 180] * limits.max_quotes}
    text = json.dumps({"concepts": [concept] * limits.max_concepts})
    assert len(text) / 3 <= limits.default_max_output_tokens() < 8192


def test_the_compact_format_default_cap_fits_its_largest_answer():
    """The compact format's default cap: every type's list and the side lists full, spans
    at 16 tokens and expansions/hints at 40, in real JSON at 3 characters per token."""
    from polymath_assets.extraction import compact

    settings = RequestSettings.from_config(Config.from_env({}), CONCEPT_TYPES)
    assert settings.compact
    cap = settings.generation_config()["maxOutputTokens"]
    n = settings.limits.max_concepts
    document = {"method": ["s" * 48] * n, compact.EXPANSIONS: [{"s": "s" * 48, "x": "x" * 120}] * n,
                compact.HINTS: [{"s": "s" * 48, "q": "q" * 120}] * n}
    assert len(json.dumps(document)) / 3 <= cap < 8192
    # each type is one list of strings, within maxItems
    schema = settings.generation_config()["responseSchema"]
    assert all(schema["properties"][t]["maxItems"] == n for t in CONCEPT_TYPES)
