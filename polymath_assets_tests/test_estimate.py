"""The cost estimate tells the truth: on real text (SciERC abstracts through the emulator),
the projection made after the pilot is within 10 % of the tokens then billed, input and
output apart; before any result it uses the prompt version's gold-answer size (recomputed
here from the abstracts), and the default budget cap covers the default format's
projection for 550k passages."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from polymath_assets.config import Config
from polymath_assets.corpus.ingest import ingest_file
from polymath_assets.corpus.lexicon import CONCEPT_TYPES
from polymath_assets.extraction import runner
from polymath_assets.extraction.estimate import PER, PROJECTED_PASSAGES, project
from polymath_assets.extraction.requests import GOLD_ANSWER_TOKENS, PROMPT_VERSIONS, RequestSettings, gold_answer_tokens
from polymath_assets.operations.extraction import drive
from polymath_assets_tests.extraction_helpers import settings
from polymath_assets_tests.real_text import load_scierc
from polymath_assets_tests.real_text import write_scierc_corpus as scierc_corpus

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "answer_bench.py"

ABSTRACTS, PILOT, SHARDS = 120, 30, 4


def billed(conn, pilot: bool) -> tuple[int, int, int]:
    """(requests, input, output tokens) billed for the pilot's jobs or for the shard jobs."""
    return conn.execute(
        f"""SELECT sum(requests)::int, sum(prompt_tokens)::bigint, sum(output_tokens)::bigint FROM spend_ledger
            WHERE state = 'actual' AND shard IS {'' if pilot else 'NOT'} NULL""").fetchone()


@pytest.mark.parametrize("prompt_version", PROMPT_VERSIONS)
def test_the_gold_answer_sizes_are_what_the_benchmark_computes_from_the_abstracts(prompt_version):
    """GOLD_ANSWER_TOKENS is the benchmark's number, not a number typed in: the gold answers
    of the 500 abstracts, through the benchmark's own function (no emulator)."""
    spec = importlib.util.spec_from_file_location("answer_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    request = RequestSettings.from_config(Config.from_env({"POLYMATH_PROMPT_VERSION": prompt_version}), CONCEPT_TYPES)
    rows = load_scierc()
    assert len(rows) == 500
    assert round(bench.gold_answer_size(rows, request)) == GOLD_ANSWER_TOKENS[prompt_version]


def test_the_projection_after_a_pilot_is_within_ten_percent_of_what_is_billed(kb, client, tmp_path):
    """The output side is the real check: the emulator's answers are not the gold answer
    and grow with their passage. The input side can hardly miss here — the emulator bills,
    and counts for countTokens, 4 characters a token, the rule the calibration then
    measures — so it checks the arithmetic (fixed prompt, passages), not the tokenizer;
    a real key's pilot measures that."""
    ingest_file(kb, scierc_corpus(tmp_path / "scierc.jsonl", ABSTRACTS))
    kb.commit()
    s = settings(tmp_path / "home", POLYMATH_SHARD_COUNT=str(SHARDS))

    before = project(kb, s)
    assert before.passages == ABSTRACTS and before.prompt_version == "concepts-v2"
    assert before.output_tokens_per_passage == gold_answer_tokens("concepts-v2")
    assert "gold-answer size" in before.output_basis and before.cached_tokens == 0
    # the default cap holds the default format's projection for ~550k passages of this text
    assert before.usd_per_1000 * PROJECTED_PASSAGES / PER <= Config.from_env({}).budget_usd

    runner.select_pilot(kb, s, PILOT)
    drive(kb, client, runner.calibrate_tokens(kb, client, s), pilot=True, poll_interval_s=0.05)
    for shard in range(SHARDS):
        runner.select_shard(kb, s, shard)
    calibrated = runner.calibrate_tokens(kb, client, s)
    estimate = project(kb, calibrated)
    assert estimate.passages == ABSTRACTS - PILOT and estimate.output_basis.startswith("billed so far")

    drive(kb, client, calibrated, pilot=False, poll_interval_s=0.05)
    requests, input_tokens, output_tokens = billed(kb, pilot=False)
    assert requests == ABSTRACTS - PILOT
    assert abs(estimate.input_tokens - input_tokens) <= 0.10 * input_tokens, (estimate, input_tokens)
    assert abs(estimate.output_tokens - output_tokens) <= 0.10 * output_tokens, (estimate, output_tokens)
    assert abs(estimate.usd - s.prices.cost(input_tokens, output_tokens)) <= 0.10 * s.prices.cost(input_tokens,
                                                                                                  output_tokens)
    assert project(kb, calibrated).passages == 0
