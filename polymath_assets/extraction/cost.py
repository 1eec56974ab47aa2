"""Token and cost estimates. Pure functions; prices are configuration.

Before results exist, input tokens are estimated from characters with a ratio that is
calibrated against the provider's countTokens on a sample of real rendered requests
(``calibrate``); output tokens from the expected count per passage. Once a job's
results are in, its actual usage replaces the estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_CHARS_PER_TOKEN = 4.0


@dataclass(frozen=True)
class Prices:
    input_per_m: float
    output_per_m: float
    cached_per_m: float = 0.0

    def cost(self, prompt_tokens: int, output_tokens: int, cached_tokens: int = 0) -> float:
        """USD for a usage: ``cached_tokens`` (part of ``prompt_tokens``) at the cached price."""
        return ((prompt_tokens - cached_tokens) / 1e6 * self.input_per_m + cached_tokens / 1e6 * self.cached_per_m
                + output_tokens / 1e6 * self.output_per_m)


def estimate_prompt_tokens(prompt_chars: int, chars_per_token: float = DEFAULT_CHARS_PER_TOKEN) -> int:
    return math.ceil(prompt_chars / chars_per_token)


def estimate_cost(requests: int, prompt_chars: int, expected_output_tokens: int, prices: Prices,
                  chars_per_token: float = DEFAULT_CHARS_PER_TOKEN) -> tuple[int, int, float]:
    """(prompt tokens, output tokens, USD) expected for a set of requests."""
    prompt_tokens = estimate_prompt_tokens(prompt_chars, chars_per_token)
    output_tokens = requests * expected_output_tokens
    return prompt_tokens, output_tokens, prices.cost(prompt_tokens, output_tokens)


def calibrate(samples: list[tuple[int, int]]) -> float:
    """Characters per token from (prompt chars, counted tokens) pairs; the default if none."""
    chars = sum(c for c, _ in samples)
    tokens = sum(t for _, t in samples)
    return chars / tokens if chars and tokens else DEFAULT_CHARS_PER_TOKEN
