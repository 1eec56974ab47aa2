"""The extraction prompt and the response schema the model must follow.

The passage is embedded between <passage> and </passage> lines so that the offline
emulator (and a human reading a request file) can find it. Changing any text here
changes every request key (see extraction.requests), which is what we want: a new
prompt is new work.
"""

from __future__ import annotations

from dataclasses import dataclass

from polymath_assets.corpus.lexicon import CONCEPT_TYPES

PROMPT_VERSION = "concepts-v1"

SYSTEM_INSTRUCTION = (
    "You extract scientific concepts from one passage of a research paper. "
    "Return only concepts that the passage itself mentions. For each concept give: "
    "its canonical name as written in the field (not a sentence), its type, aliases used in "
    "the passage, your confidence between 0 and 1, and one to three short quotes copied "
    "verbatim from the passage that support it. Quotes must be exact substrings of the "
    "passage; do not paraphrase. Prefer 4 to 14 concepts per passage."
)


def concept_types() -> tuple[str, ...]:
    return CONCEPT_TYPES


def user_prompt(passage_text: str, concept_types: tuple[str, ...] = CONCEPT_TYPES) -> str:
    return (
        f"Concept types: {', '.join(concept_types)}.\n"
        "Passage:\n<passage>\n"
        f"{passage_text}\n"
        "</passage>"
    )


def passage_from_prompt(prompt: str) -> str | None:
    """The passage text inside a user prompt built by user_prompt (used by the emulator)."""
    start, end = prompt.find("<passage>\n"), prompt.rfind("\n</passage>")
    if start < 0 or end < start:
        return None
    return prompt[start + len("<passage>\n"):end]


REPAIR_OPEN, REPAIR_CLOSE = "<unlocated>", "</unlocated>"


def repair_items_block(items: list[dict]) -> str:
    """The unlocated items of a repair request, one JSON object a line, between markers."""
    import json

    lines = "\n".join(json.dumps(item, ensure_ascii=False) for item in items)
    return f"{REPAIR_OPEN}\n{lines}\n{REPAIR_CLOSE}"


def repair_items_from_prompt(prompt: str) -> list[dict] | None:
    """The items of a repair request's prompt (used by the emulator), or None."""
    import json

    start, end = prompt.find(REPAIR_OPEN + "\n"), prompt.rfind("\n" + REPAIR_CLOSE)
    if start < 0 or end < start:
        return None
    found = []
    for line in prompt[start + len(REPAIR_OPEN) + 1:end].splitlines():
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(item, dict):
            found.append(item)
    return found


@dataclass(frozen=True)
class OutputLimits:
    """How much one answer may hold: ``maxItems`` in the schema, and the basis of the
    default ``maxOutputTokens``. The prompt asks for 4 to 14 concepts and 1 to 3 quotes;
    the limits leave headroom above that, so they cut only runaway answers."""

    max_concepts: int = 20
    max_quotes: int = 3
    max_aliases: int = 4

    def default_max_output_tokens(self) -> int:
        """The largest answer the schema allows, in tokens, so a valid answer is never cut.

        Per concept: name ≤ 16 tokens, type 4, confidence 4, the five keys with their quotes,
        colons, commas and braces ≈ 30; each quote ≤ 60 tokens (a "short quote" of up to ~240
        characters at ~4 characters per token), each alias ≤ 12. At the defaults that is
        54 + 3×60 + 4×12 = 282 tokens a concept, 20 concepts ≈ 5.7k tokens — about 25 times
        the expected answer (POLYMATH_EXPECTED_OUTPUT_TOKENS), which bounds what a model
        stuck repeating itself can bill (≈$0.001 a request at flash-lite batch prices)."""
        per_concept = 16 + 4 + 4 + 30 + self.max_quotes * 60 + self.max_aliases * 12
        return 16 + self.max_concepts * per_concept  # 16: {"concepts": [ ... ]}


# Models that think unless told not to. Thinking tokens are billed as output and add
# nothing to span extraction, so they get POLYMATH_THINKING_BUDGET (default 0). 2.5 Pro
# cannot switch thinking off: 128 is its smallest budget. Gemini 3 takes a thinking level
# instead (a request may not carry both): budget 0 maps to its lowest level.
THINKING_MODELS = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-3")
MIN_THINKING_BUDGET = {"gemini-2.5-pro": 128}
LOWEST_THINKING_LEVEL = {"gemini-3-flash": "minimal", "gemini-3": "low"}  # first prefix that matches


def thinking_config(model: str, budget: int) -> dict | None:
    """``generationConfig.thinkingConfig`` for this model, or None to send none (models
    that do not think, or budget -1: the model's own default)."""
    name = model.removeprefix("models/")
    if budget < 0 or not name.startswith(THINKING_MODELS) or "lite" in name:
        # Flash-Lite does not think by default; older models reject thinkingConfig.
        return None
    if name.startswith("gemini-3") and budget == 0:
        return {"thinkingLevel": next(v for prefix, v in LOWEST_THINKING_LEVEL.items() if name.startswith(prefix))}
    floor = next((v for prefix, v in MIN_THINKING_BUDGET.items() if name.startswith(prefix)), 0)
    return {"thinkingBudget": max(budget, floor)}


def response_schema(concept_types: tuple[str, ...] = CONCEPT_TYPES, limits: OutputLimits = OutputLimits()) -> dict:
    """OpenAPI-subset schema for generationConfig.responseSchema (more reliable on batch
    than responseJsonSchema). ``maxItems`` bounds every list."""
    return {
        "type": "OBJECT",
        "properties": {
            "concepts": {
                "type": "ARRAY",
                "maxItems": limits.max_concepts,
                "items": {
                    "type": "OBJECT",
                    "properties": {
                        "name": {"type": "STRING"},
                        "type": {"type": "STRING", "enum": list(concept_types)},
                        "aliases": {"type": "ARRAY", "items": {"type": "STRING"}, "maxItems": limits.max_aliases},
                        "confidence": {"type": "NUMBER"},
                        "quotes": {"type": "ARRAY", "items": {"type": "STRING"}, "maxItems": limits.max_quotes},
                    },
                    "required": ["name", "type", "confidence", "quotes"],
                    "propertyOrdering": ["name", "type", "aliases", "confidence", "quotes"],
                },
            }
        },
        "required": ["concepts"],
    }
