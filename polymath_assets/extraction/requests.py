"""Batch request lines and their stable keys.

A request key is a content hash of everything that determines the answer: the passage
text, the prompt, the schema, the model and the temperature. The same passage asked
the same way always has the same key, so a result already paid for is recognised and
never requested again; a changed prompt or model is new work with new keys.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from polymath_assets.extraction import compact, prompt
from polymath_assets.extraction.prompt import OutputLimits, thinking_config

# The prompt versions a request can be asked in; each is its own request keys (fingerprint).
PROMPT_VERSIONS = (prompt.PROMPT_VERSION, compact.PROMPT_VERSION)
DEFAULT_PROMPT_VERSION = compact.PROMPT_VERSION
# Output tokens per passage of each format's gold answer: the answer built from the gold
# mentions of the 500 SciERC abstracts (real text), at the emulator's billing rule of 4
# characters a token (benchmarks/answer_bench.py, gold_answer_size; printed as
# answer_tokens_gold_*; test_estimate recomputes it). The cost estimate uses it until
# results exist; then the tokens actually billed.
GOLD_ANSWER_TOKENS = {prompt.PROMPT_VERSION: 564, compact.PROMPT_VERSION: 91}


def gold_answer_tokens(prompt_version: str) -> int:
    return GOLD_ANSWER_TOKENS[prompt_version]


@dataclass(frozen=True)
class RequestSettings:
    model: str
    temperature: float
    concept_types: tuple[str, ...]
    limits: OutputLimits = field(default_factory=OutputLimits)
    max_output_tokens: int = 0  # 0: the largest answer the schema allows (OutputLimits)
    thinking_budget: int = 0    # -1: the model's own default
    prompt_version: str = prompt.PROMPT_VERSION  # which answer format: concepts-v1 or concepts-v2 (compact)

    def __post_init__(self) -> None:
        if self.prompt_version not in PROMPT_VERSIONS:
            raise ValueError(f"unknown prompt version {self.prompt_version!r}; known: {', '.join(PROMPT_VERSIONS)}")

    @classmethod
    def from_config(cls, config, concept_types: tuple[str, ...]) -> "RequestSettings":
        return cls(config.gemini_model, config.temperature, concept_types,
                   OutputLimits(config.max_concepts, config.max_quotes, config.max_aliases),
                   config.max_output_tokens, config.thinking_budget, config.prompt_version)

    @property
    def compact(self) -> bool:
        """Whether answers come in the compact format (spans by type, extraction.compact)."""
        return self.prompt_version == compact.PROMPT_VERSION

    @property
    def system_instruction(self) -> str:
        return compact.SYSTEM_INSTRUCTION if self.compact else prompt.SYSTEM_INSTRUCTION

    def user_prompt(self, passage_text: str) -> str:
        return compact.user_prompt(passage_text) if self.compact else prompt.user_prompt(passage_text,
                                                                                         self.concept_types)

    def response_schema(self) -> dict:
        if self.compact:
            return compact.response_schema(self.concept_types, self.limits.max_concepts)
        return prompt.response_schema(self.concept_types, self.limits)

    def default_max_output_tokens(self) -> int:
        if self.compact:
            return compact.default_max_output_tokens(self.concept_types, self.limits.max_concepts)
        return self.limits.default_max_output_tokens()

    def generation_config(self) -> dict:
        """``generationConfig``: structured output, the output cap and the thinking budget."""
        generation = {
            "temperature": self.temperature,
            "maxOutputTokens": self.max_output_tokens or self.default_max_output_tokens(),
            "responseMimeType": "application/json",
            "responseSchema": self.response_schema(),
        }
        thinking = thinking_config(self.model, self.thinking_budget)
        if thinking is not None:
            generation["thinkingConfig"] = thinking
        return generation

    def fingerprint(self) -> str:
        """Everything about a request except the passage, hashed once per run."""
        blob = json.dumps([self.prompt_version, self.system_instruction, self.generation_config(), self.model],
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


def request_key(passage_text: str, fingerprint: str) -> str:
    return hashlib.sha256(f"{fingerprint}\n{passage_text}".encode()).hexdigest()[:32]


def build_request(passage_text: str, settings: RequestSettings) -> dict:
    """One GenerateContentRequest; structured-output settings live inside generationConfig."""
    return {
        "contents": [{"role": "user", "parts": [{"text": settings.user_prompt(passage_text)}]}],
        "systemInstruction": {"parts": [{"text": settings.system_instruction}]},
        "generationConfig": settings.generation_config(),
    }


def fixed_prompt_chars(settings: RequestSettings) -> int:
    """Characters of a rendered request that do not depend on the passage: the system
    instruction and the user prompt's template (they are billed as input)."""
    return len(settings.system_instruction) + len(settings.user_prompt(""))


def contents_chars(passage_text: str, settings: RequestSettings) -> int:
    """Characters of what countTokens is given (``contents`` only, no system instruction):
    the numerator of a characters-per-token calibration against it."""
    return len(settings.user_prompt(passage_text))


def request_chars(request: dict) -> int:
    """Characters of a rendered request's system instruction and contents (billed as input)."""
    parts = [*request.get("systemInstruction", {}).get("parts", []),
             *(part for content in request.get("contents", []) for part in content.get("parts", []))]
    return sum(len(part.get("text", "")) for part in parts)


@dataclass
class RequestFileStats:
    requests: int = 0
    bytes: int = 0
    prompt_chars: int = 0


def write_request_file(path: Path, rows: Iterable[tuple[str, object]], settings: RequestSettings,
                       build=None) -> RequestFileStats:
    """Stream (key, passage_text) rows into a JSONL request file; memory stays flat.
    ``build`` (payload, settings -> request) replaces build_request for other payloads
    (the repair lane's requests).

    Written to a temporary name and renamed, so a crash never leaves a half file that
    looks complete."""
    stats = RequestFileStats()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    fixed_chars = fixed_prompt_chars(settings)
    with open(partial, "w", encoding="utf-8") as handle:
        for key, payload in rows:
            request = (build or build_request)(payload, settings)
            line = json.dumps({"key": key, "request": request}, ensure_ascii=False) + "\n"
            handle.write(line)
            stats.requests += 1
            stats.bytes += len(line.encode())
            stats.prompt_chars += fixed_chars + len(payload) if isinstance(payload, str) else request_chars(request)
    partial.replace(path)
    return stats
