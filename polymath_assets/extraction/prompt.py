"""The extraction prompt and the response schema the model must follow.

The passage is embedded between <passage> and </passage> lines so that the offline
emulator (and a human reading a request file) can find it. Changing any text here
changes every request key (see extraction.requests), which is what we want: a new
prompt is new work.
"""

from __future__ import annotations

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


def response_schema(concept_types: tuple[str, ...] = CONCEPT_TYPES) -> dict:
    """OpenAPI-subset schema for generationConfig.responseSchema (more reliable on batch
    than responseJsonSchema)."""
    return {
        "type": "OBJECT",
        "properties": {
            "concepts": {
                "type": "ARRAY",
                "items": {
                    "type": "OBJECT",
                    "properties": {
                        "name": {"type": "STRING"},
                        "type": {"type": "STRING", "enum": list(concept_types)},
                        "aliases": {"type": "ARRAY", "items": {"type": "STRING"}},
                        "confidence": {"type": "NUMBER"},
                        "quotes": {"type": "ARRAY", "items": {"type": "STRING"}},
                    },
                    "required": ["name", "type", "confidence", "quotes"],
                    "propertyOrdering": ["name", "type", "aliases", "confidence", "quotes"],
                },
            }
        },
        "required": ["concepts"],
    }
