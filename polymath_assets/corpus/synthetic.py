"""A deterministic synthetic corpus of scientific-looking passages.

Used by the tests, the benchmarks and to write the shipped sample corpus. The same seed
always gives the same ids and text. Passages vary in length (one to ten sentences),
mix in unicode, hyphenation across line breaks, repeated phrases and case changes, so
evidence alignment is exercised on realistic text.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

from polymath_assets.corpus.lexicon import LEXICON

SECTIONS = ("abstract", "introduction", "methods", "results", "discussion", "conclusion")

TEMPLATES = (
    "We apply {method} to {problem} in {domain}, evaluating on {dataset} with the {metric}.",
    "Compared with {model}, our approach based on {method} improves the {metric} by {num}%.",
    "{Problem} remains a central challenge in {domain}, particularly for {entity}.",
    "Using {dataset}, we trained {model} and observed that {method} reduces {problem}.",
    "These results suggest that {method} generalises beyond {domain} to {domain2}.",
    "Measurements of {entity} were obtained by {method} and analysed with {model}.",
    "The {metric} of {model} on {dataset} was {dec}, below that of {model2}.",
    "Prior work on {problem} relied on {method}, which scales poorly with sample size.",
    "In {domain}, {entity} is often studied with {method} (see Section {num}).",
    "A key limitation is {problem}; we address it with {method} and {method2}.",
    "Ablations show that removing {method} degrades the {metric} from {dec} to {dec2}.",
    "We release code and the pre-processed {dataset} to support research in {domain}.",
)

TITLE_TEMPLATES = (
    "{Method} for {problem} in {domain}",
    "Towards robust {problem} with {model}",
    "{Domain} at scale: {method} on {dataset}",
    "Revisiting {problem}: lessons from {entity}",
)


def _fill(template: str, rng: random.Random) -> str:
    values = {}
    for kind, terms in LEXICON.items():
        first, second = rng.sample(terms, 2)
        values[kind], values[kind + "2"] = first, second
        values[kind.capitalize()] = first[:1].upper() + first[1:]
    values.update(num=rng.randint(2, 40), dec=f"{rng.uniform(0.5, 0.99):.2f}", dec2=f"{rng.uniform(0.2, 0.5):.2f}")
    return template.format(**values)


def _hyphenate_across_line(text: str, rng: random.Random) -> str:
    """Break one long word over a line with a hyphen, as PDF extraction often does."""
    words = text.split(" ")
    long_words = [i for i, w in enumerate(words) if len(w) >= 9 and w.isalpha()]
    if not long_words:
        return text
    i = rng.choice(long_words)
    cut = len(words[i]) // 2
    words[i] = words[i][:cut] + "-\n" + words[i][cut:]
    return " ".join(words)


def passage_text(rng: random.Random) -> str:
    sentences = [_fill(rng.choice(TEMPLATES), rng) for _ in range(rng.randint(1, 10))]
    if len(sentences) > 2 and rng.random() < 0.3:
        sentences.append(sentences[0])  # repeated phrase: alignment must pick one occurrence
    text = " ".join(sentences)
    if rng.random() < 0.2:
        text = _hyphenate_across_line(text, rng)
    if rng.random() < 0.2:
        text = text.replace(". ", ".\n", 1)
    return text


def generate(documents: int, passages_per_document: tuple[int, int] = (5, 15), seed: int = 7) -> Iterator[dict]:
    """Yield corpus records (documents first, then their passages), deterministically."""
    rng = random.Random(seed)
    id_rng = random.Random(seed * 7919 + 1)
    for _ in range(documents):
        doc_id = uuid.UUID(int=id_rng.getrandbits(128), version=4)
        yield {
            "kind": "document",
            "doc_id": str(doc_id),
            "title": _fill(rng.choice(TITLE_TEMPLATES), rng),
            "year": rng.randint(2012, 2026),
            "doi": f"10.{rng.randint(1000, 9999)}/synthetic.{rng.randint(10**6, 10**7 - 1)}",
        }
        for position in range(rng.randint(*passages_per_document)):
            yield {
                "kind": "passage",
                "passage_id": str(uuid.UUID(int=id_rng.getrandbits(128), version=4)),
                "doc_id": str(doc_id),
                "section": SECTIONS[min(position, len(SECTIONS) - 1)],
                "passage_text": passage_text(rng),
            }


def write_jsonl(path: Path, records: Iterator[dict]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def documents_for_passages(passages: int, mean_per_document: int = 10) -> int:
    return max(1, round(passages / mean_per_document))
