"""Canonical concepts, the pure parts: normalization key and its variant rules, acronym
pairs (text, list of names, corpus choice), type, head and embedding guards, the chaining
guard, cluster metrics, the names file, the threshold of a model and its calibration."""

from dataclasses import fields, replace

import numpy as np
import pytest

from polymath_assets.concepts.acronyms import (
    find_pairs,
    initials_match,
    input_set_pairs,
    long_form_matches,
    pairs_in_surface,
)
from polymath_assets.concepts.calibrate import read_gold, threshold_for
from polymath_assets.concepts.memory import MemoryStore
from polymath_assets.concepts.normalize import normalize_key, variant_stages
from polymath_assets.concepts.pipeline import full_reason
from polymath_assets.concepts.quality import Scores, b_cubed, pairwise, stage_scores
from polymath_assets.concepts.resolver import (
    MERGING_STAGES,
    ResolverSettings,
    Surface,
    acronym_choice,
    defined_locally,
    parse_head_nouns,
    preferred_name,
    resolve,
)
from polymath_assets.concepts.rules import (
    TypeRules,
    chain_violations,
    embedding_merge_allowed,
    head_stem,
    leader_clusters,
    names_a_process,
)
from polymath_assets.concepts.spelling import american
from polymath_assets.concepts.surfaces_file import FileRejected, read_surfaces
from polymath_assets.config import Config


@pytest.mark.parametrize("a, b", [
    ("convolutional neural network", "Convolutional Neural Networks"),
    ("convolutional neural network (CNN)", "convolutional neural networks"),
    ("Convolutional Neural Network -LRB- CNN -RRB-", "convolutional neural network"),
    ("long short - term memory", "Long Short-Term Memory"),
    ("CNN", "CNNs"),
    ("data set", "datasets"),
    ("ResNet - 101", "ResNet-101"),
    ("the Penn Treebank", "Penn Treebank"),
    ("ontologies", "ontology"),
    ("search approaches", "search approach"),
    ("ＢＥＲＴ", "BERT"),
    ("Convolution-al Neural Networks", "convolutional neural networks"),
])
def test_variants_share_a_normalization_key(a, b):
    assert normalize_key(a) == normalize_key(b) != ""


@pytest.mark.parametrize("a, b", [
    ("machine translation", "statistical machine translation"),
    ("ResNet-50", "ResNet-101"),
    ("analysis", "analyses of variance"),
    ("statistics", "statistic test"),
    ("process", "processor"),
])
def test_different_things_keep_different_keys(a, b):
    assert normalize_key(a) != normalize_key(b)


def test_acronym_pairs_are_found_in_detokenized_and_tokenized_text():
    text = ("We train a long short-term memory (LSTM) and a long short - term memory ( LSTM ) on "
            "statistical machine translation -LRB- SMT -RRB- data with conditional random fields ( CRFs ) .")
    assert find_pairs(text) == [("LSTM", "long short-term memory"), ("LSTM", "long short - term memory"),
                                ("SMT", "statistical machine translation"), ("CRF", "conditional random fields")]
    assert find_pairs("the results (Table 2) of the model (see above) are shown") == []
    assert long_form_matches("HMM", "hidden Markov models") and not long_form_matches("HMM", "support vector machine")
    assert pairs_in_surface("convolutional neural network (CNN)") == ("CNN", "convolutional neural network")
    assert pairs_in_surface("information retrieval (ELVIRCOS)") is None


def _e(written: str, documents: int):
    return normalize_key(written), documents, written


def test_an_acronym_follows_the_expansion_most_documents_give_it():
    nlp = [_e("natural language processing", 5), _e("natural language parsing", 1)]
    assert acronym_choice(nlp, 0.8) == ("naturallanguageprocessing", False)  # one paper's usage does not compete
    assert acronym_choice([_e("mean time", 2), _e("machine translation", 2)], 0.8) == (None, True)
    ap = [_e("average precision", 40), _e("affinity propagation", 10), _e("access point", 5)]
    assert acronym_choice(ap, 0.8) == (None, True)  # 73 %: two meanings in use
    assert acronym_choice([_e("mean reciprocal rank", 50), _e("multiple round robin", 2)], 0.8) == \
        ("meanreciprocalrank", False)
    # narrower expansions count for the broader one they end in
    mt = [_e("machine translation", 3), _e("statistical machine translation", 1),
          _e("syntax-based statistical machine translation", 2)]
    assert acronym_choice(mt, 0.8) == ("machinetranslation", False)
    assert acronym_choice([], 0.8) == (None, False)
    assert defined_locally([_e("average precision", 2)]) == "averageprecision"
    assert defined_locally([_e("average precision", 2), _e("affinity propagation", 1)]) is None


def test_type_rules_keep_a_dataset_out_of_a_method():
    rules = TypeRules.parse("method=model")
    assert rules.compatible("Method", "model") and rules.compatible("dataset", "Dataset")
    assert not rules.compatible("dataset", "method")
    with pytest.raises(ValueError, match="expected TYPE=TYPE"):
        TypeRules.parse("method")


@pytest.mark.parametrize("a, b, allowed", [
    ("Transformer", "transformer architecture", False),  # a noun after a name: the head stage's, not this one's
    ("machine translation system", "machine translation", False),
    ("Isomorphic Grammars approach", "Isomorphic Grammars", False),
    ("machine translation", "statistical machine translation", False),
    ("ResNet-50", "ResNet-101", False),
    ("CNN", "RNN", False),
    ("tokenisation", "tokenization", True),
])
def test_embedding_merge_guards(a, b, allowed):
    assert embedding_merge_allowed(a, b) is allowed


def _unit(*angles_deg):
    return np.array([[np.cos(np.radians(a)), np.sin(np.radians(a))] for a in angles_deg], dtype=np.float32)


def test_leader_clustering_never_chains():
    # a–b and b–c are each 20° apart (cos 0.94); a–c is 40° (cos 0.77): with threshold 0.9 a
    # chain a→b→c would put c in a's cluster; against the leader only, c leads its own.
    vectors = _unit(0, 20, 40)
    names = ["alpha net", "beta net", "gamma net"]
    rules = TypeRules()
    assignment = leader_clusters(vectors, names, ["method"] * 3, rules, threshold=0.9)
    assert assignment == [0, 0, 2]
    assert chain_violations(vectors[[0, 1, 2]], vectors[0], 0.9) == [2]
    assert leader_clusters(vectors[:2], names[:2], ["method", "dataset"], rules, 0.9) == [0, 1]


def test_preferred_name_is_the_most_written_expansion():
    assert preferred_name([Surface("CNN", "method", 9), Surface("convolutional neural network", "method", 3),
                           Surface("convolutional neural networks", "method", 2)]) == "convolutional neural network"


def test_b_cubed_and_pairwise_on_a_small_example():
    gold = {"a": 1, "b": 1, "c": 2, "d": 2}
    assert b_cubed(gold, gold).f1 == 1.0 and pairwise(gold, gold).f1 == 1.0
    everything = {k: 0 for k in gold}
    assert b_cubed(everything, gold).precision == pytest.approx(0.5)
    assert b_cubed(everything, gold).recall == 1.0
    assert pairwise(everything, gold).precision == pytest.approx(2 / 6)
    with pytest.raises(ValueError):
        b_cubed({"a": 1}, gold)


@pytest.mark.parametrize("read, text, bad, nothing", [
    (read_surfaces, '{"name": "CNN", "type": "method"}\nnot json\n\n{"name": "", "type": "method"}\n'
                    '["CNN"]\n{"name": "BERT"}\n', [2, 4, 5, 6], "nothing resolved"),
    (read_gold, '{"surface": "CNN", "type": "method", "group": "g1"}\nnot json\n{"surface": "", "type": "x"}\n'
                '{"surface": "CNN", "type": "method"}\n{"surface": "LSTM", "type": "method", "group": [1]}\n'
                '{"surface": "RNN", "type": "method", "group": true}\n{"surface": "GRU", "type": "m", "group": 1.5}\n',
     [2, 3, 4, 5, 6, 7], "nothing calibrated"),
])
def test_a_file_with_bad_lines_is_rejected_with_their_numbers(tmp_path, read, text, bad, nothing):
    path = tmp_path / "items.jsonl"
    path.write_text(text)
    with pytest.raises(FileRejected) as rejected:
        read(path)
    assert [e.split(":")[0] for e in rejected.value.errors] == [f"line {n}" for n in bad]
    assert nothing in str(rejected.value)


def test_a_gold_group_is_a_string_or_an_integer_and_never_both(tmp_path):
    """``"group": 1`` and ``"group": "1"`` are two groups; a surface without one stands alone."""
    path = tmp_path / "gold.jsonl"
    path.write_text('{"surface": "CNN", "type": "method", "group": "1"}\n{"surface": "RNN", "type": "method"}\n'
                    '{"surface": "GRU", "type": "method", "group": 1}\n{"surface": "LSTM", "type": "method", "group": 1}\n')
    assert [i.group for i in read_gold(path)] == ["str:1", "alone:2", "int:1", "int:1"]
    path.write_text("\n\n")
    with pytest.raises(FileRejected, match="no surfaces"):
        read_gold(path)


@pytest.mark.parametrize("name, anchor, stage", [
    ("Convolutional Neural Networks", "convolutional neural networks", "key"),
    ("Bi - LSTM", "BiLSTM", "punctuation"),
    ("long short - term memory", "Long Short-Term Memory", "punctuation"),
    ("seg-mentation", "segmentation", "punctuation"),  # a PDF line-break hyphen
    ("the Penn Treebank", "Penn Treebank", "article"),
    ("word error rate -LRB- WER -RRB-", "word error rate", "bracket"),
    ("normalisation", "normalization", "spelling"),
    ("labelled data", "labeled data", "spelling"),
    ("behaviours", "behaviors", "spelling"),
    ("GANs", "GAN", "plural"),
    ("hypotheses", "hypothesis", "plural"),
    ("low rank matrices", "low rank matrix", "plural"),
    ("Behaviours", "behavior", "plural"),  # the last rule it needed
])
def test_each_variant_rule_is_the_stage_of_the_surfaces_it_joins(name, anchor, stage):
    assert normalize_key(name) == normalize_key(anchor)
    assert variant_stages([name], [anchor]) == [stage]
    assert variant_stages([anchor, name]) == [stage] * 2


@pytest.mark.parametrize("a, b", [
    ("supervised", "supervized"), ("noise", "noize"), ("analyses", "analyzes"), ("four", "for"),
    ("precise", "precize"), ("hypothesis", "hypothesiz"),
])
def test_spelling_changes_only_listed_words(a, b):
    assert american(a) == a and normalize_key(a) != normalize_key(b)


@pytest.mark.parametrize("surface, stem", [
    ("ELMo embeddings", "elmo"), ("CRF model", "crf"), ("BLEU scores", "bleu"), ("word2vec embeddings", "word2vec"),
    ("Bi - LSTM network", "bilstm"), ("ResNet-50 architecture", "resnet50"),
    ("translation model", None), ("Transformer architecture", None), ("3D model", None), ("CRF system", None),
    ("deep CRF model", None),
])
def test_the_head_rule_takes_a_name_and_a_generic_head_only(surface, stem):
    assert head_stem(surface, parse_head_nouns(Config.from_env({}).concept_head_nouns)) == stem
    assert parse_head_nouns("none") == frozenset()


def test_the_head_nouns_have_one_default_without_system():
    """The configuration's field and its setting agree (an ``IR system`` is built for IR)."""
    field_default = next(f.default for f in fields(Config) if f.name == "concept_head_nouns")
    assert field_default == Config.from_env({}).concept_head_nouns
    assert "system" not in parse_head_nouns(field_default) and "model" in parse_head_nouns(field_default)


def test_a_task_keeps_its_head():
    assert names_a_process("word sense disambiguation") and names_a_process("machine translation")
    assert not names_a_process("conditional random field") and not names_a_process("support vector machines")


@pytest.mark.parametrize("short, long, spelt", [
    ("GANs", "Generative Adversarial Networks", True), ("WRNs", "wide residual networks", True),
    ("MPNNs", "Message Passing Neural Networks", True), ("ResNet", "residual networks", True),
    ("BiLSTM", "bidirectional long short-term memory", True), ("mAP", "mean average precision", True),
    ("IoU", "intersection over union", True), ("BERT", "Bidirectional Encoder Representations from Transformers", True),
    ("SVM", "support vector", False), ("CNN", "deep convolutional neural network", False),
    ("MT", "statistical machine translation", False), ("CRF", "conditional random field model", False),
])
def test_initials_line_up(short, long, spelt):
    assert initials_match(short, long) is spelt


def test_both_orders_of_a_definition_and_the_initials_over_the_shortest_match():
    text = ("ATIS -LRB- Air Travel Information System -RRB- data ; GANs ( generative adversarial networks ) ; "
            "BERT (Devlin et al.) ; generate oriented object proposals -LRB- OOPs -RRB- ; mAP ( mean average precision )")
    assert find_pairs(text) == [("OOP", "oriented object proposals"), ("ATIS", "Air Travel Information System"),
                                ("GAN", "generative adversarial networks"), ("mAP", "mean average precision")]


def test_a_list_of_names_is_its_own_evidence():
    pairs = input_set_pairs(["GANs", "GAN", "generative adversarial networks", "Generative Adversarial Network",
                             "AP", "average precision", "affinity propagation",
                             "CNN", "convolutional neural network (CNN)", "content neural net",
                             "FKT", "linear Fukunaga-Koontz Transform (FKT)"])
    assert pairs["gan"] == ("generativeadversarialnetwork", False)
    assert pairs["cnn"] == ("convolutionalneuralnetwork", True)  # defined in the list
    assert "ap" not in pairs  # two expansions spell it
    assert "fkt" not in pairs  # a gloss with more words than the acronym spells is no definition


def test_the_threshold_belongs_to_the_model():
    minilm = ResolverSettings.from_config(Config.from_env({"POLYMATH_EMBEDDING_MODEL": "packaged-minilm"}))
    bge = ResolverSettings.from_config(Config.from_env({}))
    assert threshold_for(minilm, None)[0] == 0.985
    assert threshold_for(bge, None)[0] is None and "calibrate" in threshold_for(bge, None)[1]
    assert threshold_for(bge, (0.91, "calibrated on x.jsonl")) == (0.91, "calibrated on x.jsonl")
    forced = ResolverSettings.from_config(Config.from_env({"POLYMATH_CONCEPT_SIMILARITY": "0.9"}))
    assert threshold_for(forced, (0.91, "calibrated")) == (0.9, "POLYMATH_CONCEPT_SIMILARITY")


def test_the_embedding_stage_is_scored_on_the_pairs_it_joins():
    gold = {"a": 1, "b": 1, "c": 2, "d": 3}
    before = {"a": "x", "b": "y", "c": "z", "d": "w"}
    after = {"a": "x", "b": "x", "c": "z", "d": "z"}  # joined a-b (right) and c-d (wrong)
    assert stage_scores(before, after, gold) == (Scores(0.5, 1.0), 2)
    assert stage_scores(before, before, gold) == (Scores(1.0, 0.0), 0)


class _NoSearch(MemoryStore):
    """A store whose neighbour search must not run."""

    def neighbours(self, vectors, k):
        raise AssertionError("the embedding stage searched neighbours without merging anything")


@pytest.mark.parametrize("similarity, stages", [(None, MERGING_STAGES), (0.9, frozenset({"acronym", "head"}))])
def test_an_embedding_stage_that_merges_nothing_embeds_but_never_searches(similarity, stages):
    """No threshold for the model (or the stage off): the names are embedded and stored
    for a later calibrated run, but neither searched nor clustered."""
    names = ["alpha net", "alfa net", "alpha nett"]

    def same_direction(batch: list[str]) -> np.ndarray:  # every name as close as can be
        return np.tile(np.array([[1.0, 0.0]], dtype=np.float32), (len(batch), 1))

    settings = ResolverSettings(version="t", similarity=similarity, neighbours=4, type_rules=TypeRules(),
                                acronym_dominance=0.8, chunk_size=2, stages=stages)
    store = _NoSearch()
    result = resolve(store, [Surface(n, "method") for n in names], same_direction, settings)
    assert result.concepts_created == 3 and {d.stage for d in result.decisions} == {"new"}
    assert all(vector is not None for _, _, vector in store.concepts)
    merged = resolve(MemoryStore(), [Surface(n, "method") for n in names], same_direction,
                     replace(settings, similarity=0.9, stages=MERGING_STAGES))
    assert merged.concepts_created == 1  # the same names with the stage on: one concept


def test_a_new_threshold_for_the_model_makes_a_full_run_like_a_new_version():
    settings = ResolverSettings(version="v3", similarity=0.9, neighbours=4, type_rules=TypeRules(),
                                acronym_dominance=0.8, chunk_size=8, model="m")
    recorded = float(np.float32(0.9))  # the run log keeps single precision
    assert full_reason(False, None, settings) is None
    assert full_reason(False, ("v3", recorded), settings) is None
    assert full_reason(True, ("v3", recorded), settings) == "requested"
    assert full_reason(False, ("v2", recorded), settings) == "the resolver version changed (v2 -> v3)"
    assert full_reason(False, ("v3", None), settings) == "the embedding threshold for m changed (none -> 0.9)"
    assert full_reason(False, ("v3", float(np.float32(0.985))), settings) == \
        "the embedding threshold for m changed (0.985 -> 0.9)"
    assert full_reason(False, ("v3", recorded), replace(settings, similarity=None)) == \
        "the embedding threshold for m changed (0.9 -> none)"



def test_the_head_stage_reads_an_acronym_as_the_acronym_stage_chose_it():
    """MT is machine translation in twelve papers (six narrower expansions of two each) and
    mean time in three: the acronym stage chooses machine translation, a process, so ``MT
    architecture`` (a thing made for it) keeps its head — though no single expansion is
    defined in as many papers as mean time."""
    store = MemoryStore()
    for written in ("machine translation", "statistical machine translation", "neural machine translation",
                    "phrase-based machine translation", "hierarchical machine translation",
                    "syntax-based machine translation"):
        store.acronyms[("mt", normalize_key(written))] = [2, written]
    store.acronyms[("mt", "meantime")] = [3, "mean time"]
    assert acronym_choice([(e, n, w) for (_, e), (n, w) in store.acronyms.items()], 0.8) == \
        ("machinetranslation", False)
    settings = ResolverSettings(version="t", similarity=None, neighbours=4, type_rules=TypeRules(),
                                acronym_dominance=0.8, chunk_size=8, head_nouns=parse_head_nouns("architecture,model"))
    unit = lambda names: np.eye(len(names), 8, dtype=np.float32)  # noqa: E731 - distinct directions
    result = resolve(store, [Surface("MT", "task"), Surface("MT architecture", "task")], unit, settings)
    assert len({d.concept_id for d in result.decisions}) == 2
    crf = resolve(MemoryStore(), [Surface("CRF", "method"), Surface("CRF model", "method")], unit, settings)
    assert len({d.concept_id for d in crf.decisions}) == 1  # no process: the head joins its name
