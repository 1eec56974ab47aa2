"""Evidence alignment on real-looking scientific text: offsets are ours, and honest."""

import pytest

from polymath_assets.extraction.evidence import (
    CONTEXT_CHARS,
    EXACT,
    FUZZY,
    NORMALIZED,
    UNALIGNED,
    align_quote,
    build_evidence,
    context_around,
)

PASSAGE = (
    "We apply graph neural networks to protein structure prediction. The α-synuclein aggregates\n"
    "were imaged by cryo-electron microscopy; segmen-\ntation used a U-Net. Graph Neural Networks\n"
    "outperform   baselines on the  Protein Data Bank (PDB). The drug–target interaction prediction "
    "task uses ChEMBL. Graph neural networks, again, are the method of choice."
)


@pytest.mark.parametrize("quote, status, expected_span", [
    ("graph neural networks to protein structure prediction", EXACT, None),
    ("α-synuclein aggregates", EXACT, None),
    ("Protein Data Bank (PDB)", EXACT, None),
    # case change and a collapsed whitespace run
    ("graph neural networks outperform baselines", NORMALIZED,
     "Graph Neural Networks\noutperform   baselines"),
    # a word hyphenated across a line break
    ("segmentation used a U-Net", NORMALIZED, "segmen-\ntation used a U-Net"),
    # an ASCII hyphen where the passage has an en dash
    ("drug-target interaction prediction", NORMALIZED, "drug–target interaction prediction"),
    # a small slip by the model
    ("were imaged by cryo electron microscopes", FUZZY, None),
    ("a sentence the passage never contains at all", UNALIGNED, None),
    ("", UNALIGNED, None),
])
def test_alignment_status_and_offsets(quote, status, expected_span):
    a = align_quote(PASSAGE, quote)
    assert a.status == status
    if status == EXACT:
        assert PASSAGE[a.start:a.end] == quote
    elif status == NORMALIZED:
        assert PASSAGE[a.start:a.end] == expected_span
    elif status == FUZZY:
        assert "cryo-electron microscopy" in PASSAGE[a.start:a.end]
    else:
        assert a.start is None and a.end is None


def test_repeated_phrase_gets_the_first_occurrence_exactly():
    a = align_quote(PASSAGE, "Graph neural networks")
    assert (a.status, a.start) == (EXACT, PASSAGE.index("Graph neural networks"))
    assert PASSAGE[a.start:a.end] == "Graph neural networks"


def test_context_is_at_most_300_chars_and_contains_the_quote():
    long_passage = "x" * 1000 + " the quoted span " + "y" * 1000
    start = long_passage.index("the quoted span")
    ctx = context_around(long_passage, start, start + len("the quoted span"))
    assert len(ctx) == CONTEXT_CHARS and "the quoted span" in ctx


def test_evidence_json_shape():
    evidence = build_evidence(PASSAGE * 3, "graph neural network",
                              ["graph neural networks to protein", "not in the passage at all, honestly"],
                              0.91, "gemini-2.5-flash-lite")
    assert evidence["surface"] == "graph neural network"
    first, second = evidence["support"]
    assert (first["alignment"], second["alignment"]) == (EXACT, UNALIGNED)
    assert (PASSAGE * 3)[first["start"]:first["end"]] == first["quote"]
    assert second["start"] is None and second["end"] is None
    assert len(evidence["context"]) <= CONTEXT_CHARS and first["quote"] in evidence["context"]
    assert "source_text" not in evidence  # served from passages by the passage_concepts_evidence view
    assert evidence["quality"] == {"confidence": 0.91, "alignment": EXACT, "notes": "gemini-2.5-flash-lite"}


def test_concept_without_any_aligned_quote_is_unaligned_with_empty_context():
    evidence = build_evidence(PASSAGE, "quantum gravity", ["loop quantum gravity is discussed here"], 0.8, "m")
    assert evidence["quality"]["alignment"] == UNALIGNED and evidence["context"] == ""
