"""What the pending work will cost: per passage, per 1,000 passages and for the whole
pending corpus, with input, output and cached tokens apart.

The basis is stated with the numbers, because it changes as work proceeds:

- input tokens: the characters of the rendered requests (system instruction, prompt
  template and passage text), at a characters-per-token ratio calibrated with countTokens
  when a client was at hand (``runner.calibrate_tokens``), else 4;
- output tokens: once results exist (the pilot's), the output tokens billed per input
  token so far times the projected input — an answer grows with its passage, and on
  real text this tracks the bill closer than a mean per request (a 30-passage pilot on
  SciERC: 6 % against 12 % off); before that, the prompt version's gold-answer size —
  the answer built from the gold mentions of the SciERC abstracts, real text
  (``requests.GOLD_ANSWER_TOKENS``) —, or POLYMATH_EXPECTED_OUTPUT_TOKENS;
- cached tokens: the share of input tokens the provider reported as cached so far (none
  by default: our fixed prefix is far below the models' minimum for context caching).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import psycopg

from polymath_assets.extraction.requests import fixed_prompt_chars, gold_answer_tokens
from polymath_assets.extraction.runner import ExtractionSettings
from polymath_assets.kb import control

PER = 1000
# The corpus size projections are quoted for (the pilot comparison, benchmarks/answer_bench.py):
# about 550k passages.
PROJECTED_PASSAGES = 550_000


@dataclass(frozen=True)
class CostProjection:
    """Tokens and USD for the pending passages of one extractor version."""
    version: str
    prompt_version: str
    passages: int               # waiting in the ledger + lacking concepts and not selected yet
    input_tokens: int           # of which cached_tokens are billed at the cached price
    cached_tokens: int
    output_tokens: int
    usd: float
    usd_per_1000: float
    chars_per_token: float
    output_tokens_per_passage: float
    output_basis: str
    budget_usd: float
    committed_usd: float        # already spent or reserved for this version

    @property
    def fits_budget(self) -> bool:
        return self.committed_usd + self.usd <= self.budget_usd

    def as_dict(self) -> dict:
        return {**asdict(self), "fits_budget": self.fits_budget}

    def lines(self) -> list[str]:
        per = self.passages or 1
        return [
            f"cost per {PER:,} passages ({self.prompt_version}): ≈${self.usd_per_1000:.4f} — "
            f"{self.input_tokens / per * PER:,.0f} input ({self.cached_tokens / per * PER:,.0f} of them cached) + "
            f"{self.output_tokens / per * PER:,.0f} output tokens",
            f"pending corpus: {self.passages:,} passages, ≈{self.input_tokens:,} input "
            f"({self.cached_tokens:,} cached) + {self.output_tokens:,} output tokens ≈ ${self.usd:.2f}; "
            f"committed so far ${self.committed_usd:.4f}, cap POLYMATH_BUDGET_USD=${self.budget_usd:.2f}"
            + ("" if self.fits_budget else " — EXCEEDS the cap"),
            f"basis: {self.chars_per_token:.2f} characters per input token; {self.output_tokens_per_passage:.0f} "
            f"output tokens per passage ({self.output_basis})",
        ]


def project(conn: psycopg.Connection, s: ExtractionSettings) -> CostProjection:
    """The projection for everything of ``s.version`` not extracted yet (waiting requests
    and passages not selected yet). Reads only; commits nothing."""
    passages, chars = control.pending_corpus_totals(conn, version=s.version, max_attempts=s.max_attempts)
    input_tokens = control.tokens_for_chars(chars + passages * fixed_prompt_chars(s.request), s.chars_per_token)
    ratio = control.output_per_input_token(conn, s.version)
    if ratio:
        output_tokens, basis = round(input_tokens * ratio), f"billed so far: {ratio:.3f} output per input token"
    else:
        output_tokens = passages * s.expected_output_tokens
        gold = s.expected_output_tokens == gold_answer_tokens(s.request.prompt_version)
        basis = (f"gold-answer size of {s.request.prompt_version} on SciERC" if gold
                 else "POLYMATH_EXPECTED_OUTPUT_TOKENS")
    cached = round(input_tokens * control.cached_share(conn, s.version))
    output_per = output_tokens / passages if passages else float(s.expected_output_tokens)
    usd = s.prices.cost(input_tokens, output_tokens, cached)
    return CostProjection(
        version=s.version, prompt_version=s.request.prompt_version, passages=passages, input_tokens=input_tokens,
        cached_tokens=cached, output_tokens=output_tokens, usd=usd,
        usd_per_1000=usd / passages * PER if passages else 0.0, chars_per_token=s.chars_per_token,
        output_tokens_per_passage=output_per, output_basis=basis, budget_usd=s.budget_usd,
        committed_usd=control.committed_usd(conn, s.version))
