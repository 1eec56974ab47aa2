"""The compact answer format (concepts-v2): parse → locate the span → store → the
passage_concepts_evidence view serves the SPEC §2 evidence shape. Spans are located by
us, offsets are exact, a span written more than once resolves to the occurrence the
model's hint names (else the first), and that choice is recorded."""

from __future__ import annotations

import json
import unicodedata
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from polymath_assets.corpus.ingest import ingest_file
from polymath_assets.corpus.lexicon import CONCEPT_TYPES
from polymath_assets.extraction.evidence import (
    CONTEXT_CHARS,
    FUZZY_MIN_WORDS,
    build_span_evidence,
    locate_span,
    sentence_context,
    span_confidence,
)
from polymath_assets.extraction.parse import OK, PARSE_ERROR, parse_output_line
from polymath_assets.extraction.results import ResultContext, concept_rows
from polymath_assets.kb.concepts import load_concepts
from polymath_assets_tests.real_text import load_scierc

PASSAGE = ("We study parsing . We train a conditional random field ( CRF ) for tagging . "
           "The CRF improves parsing of noisy text over a baseline .")
CTX = ResultContext("gemini_batch_v1", "gemini-2.5-flash-lite", CONCEPT_TYPES, 0.85, compact=True)


def line(document: dict) -> str:
    text = json.dumps(document)
    return json.dumps({"key": "k", "response": {"candidates": [{"content": {"parts": [{"text": text}]},
                                                               "finishReason": "STOP"}],
                                                "usageMetadata": {"promptTokenCount": 90, "candidatesTokenCount": 30,
                                                                  "cachedContentTokenCount": 40}}})


ANSWER = {"model": ["CRF"], "problem": ["parsing", "tagging", "translation quality"], "dataset": ["noisy text"],
          "metric": ["parsing study We variant"],
          "x": [{"s": "CRF", "x": "conditional random field"}, {"s": "tagging", "x": "sequence labelling"}],
          "q": [{"s": "parsing", "q": "parsing of noisy text"}]}


def rows_by_name():
    parsed = parse_output_line(line(ANSWER), CONCEPT_TYPES, compact=True)
    assert parsed.outcome == OK and parsed.cached_tokens == 40
    return {r.concept_name: r for r in concept_rows("p", PASSAGE, parsed.concepts, CTX)}


def test_compact_answers_become_rows_with_evidence_built_from_the_located_span():
    rows = rows_by_name()
    # an acronym the passage spells out: the expansion (as written) is the name, the acronym its alias
    crf = rows["conditional random field"]
    assert crf.aliases == ["CRF"] and crf.concept_type == "model"
    assert [PASSAGE[s["start"]:s["end"]] for s in crf.evidence["support"]] == ["CRF", "conditional random field"]
    assert crf.evidence["quality"] == {"confidence": 1.0, "alignment": "exact"}
    # "CRF" is written twice; no hint, so the first occurrence, and the choice is recorded
    assert crf.evidence["support"][0]["occurrences"] == 2 and crf.evidence["support"][0]["resolved_by"] == "first"
    # an expansion the passage does not hold is never stored: the span stays the name
    assert rows["tagging"].aliases == []
    # "parsing" is written twice: the hint names the later one
    parsing = rows["parsing"].evidence["support"][0]
    assert parsing["resolved_by"] == "hint" and parsing["occurrences"] == 2
    assert PASSAGE[parsing["start"]:parsing["end"]] == "parsing" and parsing["start"] > PASSAGE.index("CRF ) for")
    # context is the span's sentence, within SPEC §2's 300 characters
    assert rows["parsing"].evidence["context"] == "The CRF improves parsing of noisy text over a baseline ."
    # a span that is not in the passage stays unaligned, with no offsets and confidence 0
    for name in ("translation quality", "parsing study We variant"):
        assert rows[name].evidence["support"][0]["start"] is None
        assert rows[name].evidence["quality"] == {"confidence": 0.0, "alignment": "unaligned"}


def test_a_span_found_nowhere_stays_unaligned_whatever_its_hint_says():
    # the hint is a real quote of the passage, the span is not in it: no evidence, confidence 0
    location = locate_span(PASSAGE, "quantum gravity", hint="improves parsing of noisy text")
    assert location.alignment.start is None and location.alignment.status == "unaligned"
    assert location.occurrences == 0 and span_confidence(location.alignment) == 0.0
    assert build_span_evidence(PASSAGE, "quantum gravity", [location])["quality"] == {
        "confidence": 0.0, "alignment": "unaligned"}


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_a_span_that_is_not_in_the_passage_is_never_located_whatever_the_hint(data):
    """A span holding a word the passage never writes (in any case or spacing) is not a
    substring of it under any normalization: fewer than FUZZY_MIN_WORDS words are never
    located, and for any span the hint — a real quote of the passage — changes nothing."""
    text = data.draw(st.sampled_from(load_scierc()[:40]))["passage_text"]
    words = text.split()
    foreign = data.draw(st.text("bcdfghjklmnpqrstvwxz", min_size=6, max_size=10).filter(
        lambda w: w not in text.lower()))
    others = data.draw(st.lists(st.sampled_from(words), max_size=FUZZY_MIN_WORDS + 2))
    span = " ".join(data.draw(st.permutations([foreign, *others])))
    i = data.draw(st.integers(0, len(words) - 1))
    hint = " ".join(words[i:i + data.draw(st.integers(1, 8))])
    location = locate_span(text, span, hint)
    assert location == locate_span(text, span)
    if len(span.split()) < FUZZY_MIN_WORDS:
        assert location.alignment.start is None and span_confidence(location.alignment) == 0.0
    else:  # only its own words may align it, fuzzily (their numbers and ~85 % of their words)
        assert location.alignment.status in ("fuzzy", "unaligned")


def test_compact_answers_that_are_not_type_lists_fail_to_parse():
    assert parse_output_line(line({"concepts": []}), CONCEPT_TYPES, compact=True).outcome == PARSE_ERROR
    parsed = parse_output_line(line({"gene": ["TP53"], "method": ["", "x" * 300, 7]}), CONCEPT_TYPES, compact=True)
    assert parsed.outcome == OK and not parsed.concepts
    assert parsed.rejected == {"unknown_type": 1, "empty_name": 2, "name_too_long": 1}


def test_a_sentence_longer_than_the_context_is_cut_around_the_span_inside_it():
    text = "Short one . " + "word " * 120 + "target here . Next sentence ."
    start = text.index("target")
    context = sentence_context(text, start, start + 6)
    assert len(context) <= CONTEXT_CHARS and "target" in context and "Short" not in context and "Next" not in context


def _word_char(ch: str) -> bool:
    return ch.isalnum() or unicodedata.category(ch).startswith("M")


def _found_at(text: str, needle: str) -> list[int]:
    """The oracle: every str.find position of ``needle`` that neither starts nor ends
    inside a word of ``text`` (CIFAR-10 is not inside CIFAR-100)."""
    found, at = [], text.find(needle)
    while at >= 0:
        end = at + len(needle)
        if not (at > 0 and _word_char(text[at - 1]) and _word_char(needle[0])) and \
                not (end < len(text) and _word_char(text[end]) and _word_char(needle[-1])):
            found.append(at)
        at = text.find(needle, at + 1)
    return found


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_span_copied_from_real_text_is_located_where_its_hint_says(data):
    """Offsets stay exact: a span of whole words of a real abstract is found verbatim, at
    its first occurrence, unless a hint — a quote of whole words around one occurrence —
    holds another: then the first occurrence inside the hint's own first occurrence."""
    text = data.draw(st.sampled_from(load_scierc()[:40]))["passage_text"]
    words = text.split(" ")
    i = data.draw(st.integers(0, len(words) - 1))
    n = data.draw(st.integers(1, 4))
    span = " ".join(words[i:i + n]).strip()
    if not span:
        return
    occurrences = _found_at(text, span)
    assert occurrences  # where it was copied from, at least
    hint, expected, resolved_by = None, occurrences[0], "first"
    if data.draw(st.booleans()):
        meant = data.draw(st.sampled_from(occurrences))
        before = text[:meant].split(" ")[-data.draw(st.integers(1, 4)):]  # [""] + words ending at the span
        after = text[meant + len(span):].split(" ")[:data.draw(st.integers(1, 4))]
        hint = " ".join([*before[:-1], before[-1] + span + after[0], *after[1:]]).strip()
        at = _found_at(text, hint)[0]
        inside = [o for o in occurrences if at <= o and o + len(span) <= at + len(hint)]
        if inside and len(occurrences) > 1:
            expected, resolved_by = inside[0], "hint"
    location = locate_span(text, span, hint)
    assert location.alignment.status == "exact" and location.alignment.start == expected
    assert text[location.alignment.start:location.alignment.end] == span
    assert (location.occurrences, location.resolved_by) == (len(occurrences), resolved_by)


def test_compact_rows_round_trip_through_the_evidence_view_in_the_spec_shape(kb, tmp_path):
    doc = str(uuid.uuid4())
    pid = str(uuid.uuid4())
    corpus = tmp_path / "one.jsonl"
    corpus.write_text(json.dumps({"kind": "document", "doc_id": doc, "title": "t"}) + "\n"
                      + json.dumps({"kind": "passage", "doc_id": doc, "passage_id": pid, "passage_text": PASSAGE}) + "\n")
    ingest_file(kb, corpus)
    parsed = parse_output_line(line(ANSWER), CONCEPT_TYPES, compact=True)
    rows = concept_rows(pid, PASSAGE, parsed.concepts, CTX)
    assert load_concepts(kb, rows) == len(rows) == 6
    kb.commit()
    served = kb.execute("SELECT concept_name, evidence FROM passage_concepts_evidence WHERE passage_id = %s",
                        (pid,)).fetchall()
    assert len(served) == 6
    for name, evidence in served:
        assert set(evidence) == {"surface", "support", "context", "source_text", "quality"}
        assert evidence["source_text"] == PASSAGE[:1200] and evidence["surface"] == name
        assert evidence["quality"]["notes"] == "extracted by gemini-2.5-flash-lite"
        assert len(evidence["context"]) <= CONTEXT_CHARS
        for support in evidence["support"]:  # the per-quote slice check holds for every entry
            if support["alignment"] == "exact":
                assert PASSAGE[support["start"]:support["end"]] == support["quote"]
            elif support["alignment"] == "unaligned":
                assert support["start"] is None and support["end"] is None
