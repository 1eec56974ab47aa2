"""Any string is safe through the canonical-concepts resolver.

Pure parts (normalization key, acronym pairs, ``resolve`` against an in-memory store):
hostile unicode never raises, every surface gets exactly one decision, and surfaces with
one key and one type share a concept. On a real database: ``polymath concepts resolve``
writes every name back exactly as it was read, and ``show`` / ``split`` work on it."""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict

import numpy as np
import psycopg
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from polymath_assets.cli import concepts as concepts_cli
from polymath_assets.cli import main
from polymath_assets.concepts.acronyms import find_pairs, initials_match, input_set_pairs, pair_keys, pairs_in_surface
from polymath_assets.concepts.memory import MemoryStore
from polymath_assets.concepts.normalize import (
    KEY_STAGES,
    fold,
    key_levels,
    normalize_key,
    singular,
    strip_latin_accents,
    surface_key,
    unescape_brackets,
    variant_stages,
    words,
)
from polymath_assets.concepts.resolver import Decision, ResolverSettings, Surface, acronym_choice, resolve
from polymath_assets.concepts.rules import TypeRules, head_stem, is_name, names_a_process
from polymath_assets.concepts.spelling import american
from polymath_assets.concepts.surfaces_file import FileRejected, read_surfaces
from polymath_assets.kb import canonical

# --- hostile text -------------------------------------------------------------------------

_FRAGMENTS = [
    '"', "'", "\\", "\\n", "\\u0000", "\t", "\r\n", "\x1b[31m", "\x7f", "\x85", "\u2028", "\u2029",
    "\u202e", "\u200f", "\u200b", "\ufeff", "\u0301", "\u0308\u0308", "ﬁ", "ＢＥＲＴ", "İ", "ß", "ǅ", "α", "β",
    "日本語", "مرحبا", "(", ")", "( CNN )", "(CNN)", "-LRB-", "-RRB-", "s", "'s ", "the ", "%s", "%(x)s", "{}",
    "$1", "?", ";", "--", "/*", "' OR 1=1 --", "E'\\x00'", "\U0001F600", "\U000E0001", "CNN", "LSTMs", " ",
]
_CHARS = st.characters(codec="utf-8", exclude_characters="\x00")  # PostgreSQL text holds every character but NUL


def hostile(max_size: int = 40, chars=_CHARS, min_pieces: int = 0) -> st.SearchStrategy[str]:
    """Short strings built from characters of every category and from known troublemakers."""
    piece = st.one_of(st.sampled_from(_FRAGMENTS), st.text(chars, max_size=6))
    return st.lists(piece, min_size=min_pieces, max_size=max_size // 4).map("".join)


ANY_TEXT = st.one_of(
    hostile(),
    st.text(st.characters(exclude_categories=()), max_size=30),  # lone surrogates and NUL: the pure code must not mind
    st.builds(lambda s, n: (s or "x") * n, hostile(12), st.integers(1, 10_000 // 12)),  # up to ~10 KB
)
TYPES = st.sampled_from(["method", "Method", "model", "dataset", 'tâche "x"\\', "\u202etype"])
PURE = settings(max_examples=150, deadline=None)


# --- the pure parts -----------------------------------------------------------------------

@PURE
@given(ANY_TEXT)
@example("(" * 10_000)
@example("a (" * 3_000)
@example("(AB) " * 2_000)
@example("\x00\ud800 (\udfff)")
def test_keys_and_acronym_pairs_take_any_string(text):
    key = normalize_key(text)
    assert isinstance(key, str) and not any(ch.isspace() for ch in key)
    pairs = find_pairs(text)
    assert all(isinstance(a, str) and isinstance(b, str) and a and b for a, b in pairs)
    single = pairs_in_surface(text)
    assert single is None or (single[0] and single[1])
    for a, e in pair_keys(pairs + ([single] if single else [])):
        assert a and e and a != e


@PURE
@given(ANY_TEXT, st.lists(ANY_TEXT, max_size=4))
@example("the Penn Treebank (PTB)", ["Penn treebanks"])
@example("-LRB- -RRB-", [])
def test_every_variant_rule_takes_any_string(text, others):
    """Each rule of the key (case, punctuation, article, bracket, spelling, plural) and the
    stage it is recorded under: any string goes through, the last level is the key, and a
    stage is one of the rules' names."""
    levels = key_levels(text)
    assert len(levels) == len(KEY_STAGES) and levels[-1] == normalize_key(text)
    assert all(isinstance(level, str) for level in levels)
    stages = variant_stages([text] + others)
    assert len(stages) == 1 + len(others) and set(stages) <= set(KEY_STAGES) | {"new"}
    for word in words(text):
        assert american(word) == american(american(word))  # a spelling is American once
        assert singular(singular(word)) == singular(word)  # a singular is singular once


@PURE
@given(ANY_TEXT, ANY_TEXT)
@example("GANs", "generative adversarial networks")
@example("BiLSTM", "bidirectional long short-term memory")
@example("IoU", "the intersection over union")
@example("ELMo", "embeddings from language models")
@example("A" * 10, "a " * 3000)
@example("mAP", "\x00 mean (average) precision")
def test_acronym_rules_take_any_string(short, long):
    if initials_match(short, long):  # the short form's letters are the long form's, in order, the first a word's first
        letters = [c.lower() for c in short if c.isalnum()]
        found = [w.lower() for w in re.findall(r"[^\W_]+", unescape_brackets(long))]
        assert letters and letters[0] in {w[0] for w in found}
        rest = iter("".join(found))
        assert all(c in rest for c in letters if c != "s")  # a plural s is no letter of the long form
    stem = head_stem(f"{short} model", frozenset({"model"}))
    token = short.strip()
    if token and unescape_brackets(token) == token and not any(c.isspace() or c == "-" for c in token):
        assert stem == ((normalize_key(token) or None) if is_name(token) else None)  # the name's own key
    else:
        assert stem is None or stem
    if is_name(short):  # one token beginning with a letter
        assert short[:1].isalpha() and " " not in short
    if words(long):  # the last word decides: a narrower expansion names a process when the broader does
        assert names_a_process(long) == names_a_process(f"statistical {long}")
    pairs = input_set_pairs([short, long, f"{long} ({short})"])
    assert all(a and e and a != e and isinstance(defined, bool) for a, (e, defined) in pairs.items())
    found = [(key, n, written) for key, n, written in [(normalize_key(long), 1, long), (normalize_key(short), 2, short)]
             if key]
    choice, ambiguous = acronym_choice(found, 0.8)
    assert choice is None or choice in {key for key, _, _ in found}
    assert not (choice and ambiguous)


@pytest.mark.parametrize("a, b", [
    ("α-helix", "β-helix"),
    ("TGF-α", "TGF-β"),
    ("深度学习", "机器学习"),
    ("Müller glia", "Mller glia"),
])
def test_letters_outside_ascii_are_part_of_the_key(a, b):
    """Greek letters name different things in science (α- and β-synuclein): a key that
    dropped every non-ASCII letter made such names one concept at the key stage."""
    assert normalize_key(a) and normalize_key(b) and normalize_key(a) != normalize_key(b)


@PURE
@given(st.text(st.characters(categories=("Lu", "Ll", "Lo", "Nd")), min_size=1, max_size=8))
def test_a_name_with_letters_or_digits_has_a_key(word):
    """The key's contract: empty only when the surface holds no letter or digit."""
    assume(strip_latin_accents(fold(word)) not in ("a", "an", "the"))  # a leading article is dropped by design
    assert normalize_key(f"{word} network") != normalize_key("network")
    assert normalize_key(word) != ""


@pytest.mark.parametrize("a, b", [
    ("Schrödinger equation", "Schrodinger equation"),
    ("naïve Bayes", "naive Bayes"),
    ("nai\u0308ve Bayes", "naïve Bayes"),  # decomposed and composed
    ("Na ¨ ıve Bayes", "naive Bayes"),  # as tokenized in SciERC: a spacing diaeresis and a dotless i
])
def test_accents_on_latin_letters_do_not_split_a_key(a, b):
    assert normalize_key(a) == normalize_key(b) != ""


def embed(names: list[str]) -> np.ndarray:
    """Unit vectors from letter trigrams of the key: near names are near, equal keys equal."""
    out = np.zeros((len(names), 64), dtype=np.float32)
    for row, name in enumerate(names):
        text = f"  {normalize_key(name) or name}  "
        for i in range(len(text) - 2):
            out[row, int(hashlib.md5(text[i:i + 3].encode("utf-8", "surrogatepass")).hexdigest()[:4], 16) % 64] += 1
        out[row] /= np.linalg.norm(out[row]) or 1.0
    return out


SETTINGS = ResolverSettings(version="test", similarity=0.9, neighbours=5, type_rules=TypeRules.parse("method=model"),
                            acronym_dominance=0.8, chunk_size=7, head_nouns=frozenset({"model", "embedding"}))
STAGES = set(KEY_STAGES) | {"new", "acronym", "head", "embedding"}
SURFACES = st.lists(st.tuples(st.one_of(ANY_TEXT, st.sampled_from(["CNN", "CNNs", "convolutional neural network",
                                                                   "Convolutional Neural Networks (CNN)", "CNN model",
                                                                   "ELMo", "ELMo embeddings", "the CNN",
                                                                   "normalisation", "normalization"])),
                              TYPES, st.integers(1, 5)),
                    max_size=25, unique_by=lambda t: (t[0], t[1]))


def check_resolution(surfaces: list[Surface], decisions: list[Decision], store: MemoryStore) -> None:
    assert sorted((d.name, d.type) for d in decisions) == sorted((s.name, s.type) for s in surfaces)
    assert all(0 <= d.concept_id < len(store.concepts) for d in decisions)
    by_key_type = defaultdict(set)
    for d in decisions:
        assert d.key == surface_key(d.name) and d.stage in STAGES
        by_key_type[(d.key, d.type.lower())].add(d.concept_id)
    assert all(len(ids) == 1 for ids in by_key_type.values()), by_key_type


@PURE
@given(SURFACES, SURFACES)
def test_resolve_decides_every_surface_once_and_one_key_is_one_concept(first, second):
    store = MemoryStore()
    for batch in (first, second):  # the second run meets the first one's concepts (incremental)
        surfaces = [Surface(n, t, c) for n, t, c in batch if (n, t) not in store.aliases]
        before = len(store.concepts)
        result = resolve(store, surfaces, embed, SETTINGS, input_pairs=input_set_pairs(s.name for s in surfaces))
        check_resolution(surfaces, result.decisions, store)
        assert result.concepts_created == len(store.concepts) - before
        store.add_documents(s.name for s in surfaces)
        store.save(result.decisions)
    # across both runs: one key and one type name one concept
    by_key_type = defaultdict(set)
    for d in store.aliases.values():
        by_key_type[(d.key, d.type.lower())].add(d.concept_id)
    assert all(len(ids) == 1 for ids in by_key_type.values()), by_key_type


# --- the names file -----------------------------------------------------------------------

def test_names_postgres_cannot_store_are_rejected_with_their_lines(tmp_path):
    path = tmp_path / "names.jsonl"
    path.write_bytes(b'{"name": "CNN", "type": "method"}\n'
                     b'{"name": "nul\\u0000here", "type": "method"}\n'
                     b'{"name": "lone \\ud800 surrogate", "type": "method"}\n'
                     b'{"name": "ok", "type": "me\\u0000thod"}\n'
                     b'{"name": "bad \xff byte", "type": "method"}\n')
    with pytest.raises(FileRejected) as rejected:
        read_surfaces(path)
    assert [e.split(":")[0] for e in rejected.value.errors] == ["line 2", "line 3", "line 4", "line 5"]
    assert "NUL" in rejected.value.errors[0] and "UTF-8" in rejected.value.errors[3]


def test_a_byte_order_mark_does_not_reject_the_first_line(tmp_path):
    path = tmp_path / "names.jsonl"
    path.write_bytes('\ufeff{"name": "CNN", "type": "method"}\n'.encode())
    assert read_surfaces(path) == [Surface("CNN", "method")]


# --- on the real database ------------------------------------------------------------------

DIM = 384
DB_NAME = hostile(min_pieces=1).filter(lambda s: s.strip())  # a blank name is refused when the file is read
DB_TYPES = st.sampled_from(["method", "dataset", 'tâche "x"\\'])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.tuples(DB_NAME, DB_TYPES), min_size=1, max_size=4, unique=True))
def test_hostile_names_round_trip_through_resolve_show_and_split(names, dsn384, minilm_names, tmp_path_factory,
                                                                monkeypatch):
    """One database for all examples: later names meet the concepts earlier ones saved."""
    monkeypatch.setattr(concepts_cli, "_name_encoder", lambda cfg: minilm_names)  # the model loads once, not per example
    folder = tmp_path_factory.mktemp("names")
    # each name twice, the second with trailing spaces: one key, so a concept with two aliases to split
    rows = [{"name": n, "type": t} for name, t in names for n in (name, name + "  ")]
    source, target = folder / "names.jsonl", folder / "clusters.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    runner = CliRunner(env={"POSTGRES_DSN": dsn384, "POLYMATH_EMBEDDING_DIM": str(DIM)})
    with psycopg.connect(dsn384) as conn:
        known = canonical.lookup_aliases(conn, [(r["name"], r["type"]) for r in rows])

    result = runner.invoke(main, ["concepts", "resolve", "--input", str(source), "--output", str(target), "--save"],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = target.read_text(encoding="utf-8").splitlines()  # any line splitter sees one line per name
    out = [json.loads(line) for line in lines]
    assert [(o["name"], o["type"]) for o in out] == [(r["name"], r["type"]) for r in rows]
    for first, second in zip(out[::2], out[1::2]):  # new names with one key join one concept
        if not {(first["name"], first["type"]), (second["name"], second["type"])} & set(known):
            assert first["concept_id"] == second["concept_id"], (first, second)

    name, type_ = names[0]
    shown = runner.invoke(main, ["concepts", "show", "--type", type_, "--", name], catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    shown_as = name if name.isprintable() else repr(name)  # control characters are shown escaped
    assert f"    {shown_as} [{type_}]" in shown.output

    split = runner.invoke(main, ["concepts", "split", "--type", type_, "--", name], catch_exceptions=False)
    assert split.exit_code == 0 or "already on its own" in split.output, split.output
    with psycopg.connect(dsn384) as conn:
        stage, pinned, key, cid = conn.execute(
            "SELECT stage, pinned, norm_key, concept_id FROM concept_aliases WHERE surface = %s AND concept_type = %s",
            (name, type_)).fetchone()
        assert key == surface_key(name)
        if split.exit_code == 0:
            assert (stage, pinned) == ("manual", True)
            assert f"#{cid}" in split.output
