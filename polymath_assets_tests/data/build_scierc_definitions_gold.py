"""How scierc_definitions_gold.jsonl was made: the second development gold set of canonical
concepts, built from the text of the SciERC abstracts, not from SciERC's mention
annotations (the labelling rules are in the README here).

Items are surfaces as the abstracts write them (token-exact, so every item can be put in
the passages that write it):
1. the acronym definitions of the abstracts, read by hand from the candidates of a simple
   pattern (``X -LRB- ACR -RRB-`` and ``ACR -LRB- X -RRB-``): DEFINITIONS and REVERSE hold
   the expansion as the author wrote it;
2. for each definition, the expansion, the acronym, ``expansion -LRB- acronym -RRB-``, every
   other spelling of the expansion in the corpus (case, hyphens, tokenization, plural),
   every form of the acronym (plural ``s``), the acronym followed by a noun;
3. near misses, each a concept of its own unless a rule says otherwise: an expansion with a
   word in front (``statistical machine translation``) or a noun after it (``machine
   translation system``);
4. clusters labelled by hand (HAND): British and American spelling, singular and plural,
   tokenized punctuation, PDF line-break hyphens and leading articles, picked from the
   variants a loose string match finds in the abstracts, each read in context.

This script groups by its own loose matching (lower case, letters and digits only, a
final plural dropped), never by the resolver's code, except for one rule it copies: a name
followed by a generic head noun (``is_name`` is ``rules.is_name``, ``HEADS`` the default head
nouns, ``APART`` the task acronyms ``rules.names_a_process`` keeps apart), so the head stage
agrees with this set by construction; every group it prints was read.
Run: python polymath_assets_tests/data/build_scierc_definitions_gold.py > polymath_assets_tests/data/scierc_definitions_gold.jsonl
"""

import collections
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from polymath_assets_tests.real_text import load_scierc  # noqa: E402

TYPE = "term"  # one type for every item: the type never keeps two items apart

# (abstract, acronym as written, expansion as written) for ``expansion -LRB- acronym -RRB-``.
DEFINITIONS = [
    (2, 'DSP', 'digital signal processor'), (2, 'VC', 'voice conversion'),
    (2, 'NAM', 'non-audible murmur'), (25, 'APTs', 'automatic phonetic transcriptions'),
    (25, 'MPTs', 'manually verified phonetic transcriptions'), (26, 'NLP', 'natural language processing'),
    (26, 'IE', 'information extraction'), (29, 'LMs', 'language models'),
    (36, 'BP', 'belief propagation'), (38, 'IE', 'information extraction'),
    (41, 'MT', 'machine translation'), (46, 'NL', 'natural language'),
    (46, 'SI-Nets', 'Structured Inheritance Network'), (52, 'NE', 'Named Entity'),
    (53, 'WSD', 'word sense disambiguation'), (53, 'SMT', 'statistical machine translation'),
    (61, 'SI', 'speaker-independent'), (61, 'HMM', 'hidden Markov models'),
    (61, 'SA', 'speaker adaptation'), (64, 'MT', 'Syntax-based statistical machine translation'),
    (66, 'LCS', 'lexical conceptual structure'), (68, 'TSP', 'traveling salesman problem'),
    (68, 'AS', 'ant system'), (69, 'SRDA', 'Semi-Riemannian Discriminant Analysis'),
    (72, 'SAE', 'Stacked Auto-Encoders'), (72, 'ASR', 'Automatic Speech Recognition'),
    (75, 'HDAG', 'Hierarchical Directed Acyclic Graph'), (77, 'PDTB', 'Penn Discourse TreeBank'),
    (79, 'H-CORF', 'Hidden Conditional Ordinal Random Field'), (81, 'WSD', 'word sense disambiguation'),
    (84, 'SMT', 'Statistical machine translation'), (93, 'QA', 'Question Answering'),
    (95, 'UCG', 'Unification Categorial Grammar'), (104, 'HMM', 'Hidden Markov Model'),
    (104, 'NE', 'named entity'), (107, 'DLs', 'description logics'),
    (109, 'S-KDR', 'sequence kernel dimension reduction approach'), (111, 'IR', 'Information Retrieval'),
    (111, 'ASR', 'automatic speech recognition'), (111, 'WWER', 'weighted word error rate'),
    (111, 'WER', 'word error rate'), (113, 'SMT', 'statistical machine translation'),
    (115, 'CSR', 'continuous speech recognition'), (115, 'SLS', 'Spoken Language Systems'),
    (118, 'FSM', 'Finite State Model'), (118, 'SLM', 'Statistical Learning Model'),
    (126, 'EDOL', 'extended domain of locality'), (135, 'CHILDES', 'Child Language Data Exchange System'),
    (138, 'MT', 'syntax-based statistical machine translation'), (145, 'WSD', 'word sense disambiguation'),
    (148, 'SR', 'speech recognition'), (148, 'NL', 'natural language'),
    (148, 'SU', 'speech understanding'), (148, 'SLS', 'Spoken Language Systems'),
    (150, 'GNSS', 'Global Navigation Satellite System'), (150, 'INS', 'Inertial Navigation System'),
    (150, 'EKF', 'Extended Kalman Filter'), (160, 'RL', 'reinforcement learning'),
    (161, 'NLP', 'Natural Language Processing'), (162, 'SPG', 'sentence-plan-generator'),
    (162, 'SPR', 'sentence-plan-ranker'), (163, 'CDHMM', 'continuous density hidden Markov models'),
    (166, 'IA', 'Interval Algebra'), (166, 'RCC', 'Region Connection Calculus'),
    (166, 'QCN', 'Qualitative Constraint Network'), (166, 'MLP', 'minimal labeling problem'),
    (168, 'VSM', 'vector space model'), (168, 's-VSM', 'sentiment vector space model'),
    (169, 'USR', 'underspecified semantic representation'), (173, 'DPG', 'Diagram Parse Graphs'),
    (175, 'MT', 'Machine Translation'), (177, 'SVC', 'singing voice conversion'),
    (177, 'GMM', 'Gaussian mixture model'), (179, 'SREs', 'Speaker Recognition Evaluations'),
    (183, 'DHPL', 'Dynamic Hierarchical Phrasal Lexicon'), (191, 'LNMF', 'local non-negative matrix factorization'),
    (198, 'TGIF', 'Tumblr GIF'), (200, 'WSI', 'word sense induction'),
    (205, 'DNN', 'Deep Neural Network'), (208, 'TCNL', 'Time Calculus for Natural Language'),
    (208, 'TEA', 'Temporal Expression Anchoror'), (223, 'WSJ', 'Wallstreet Journal'),
    (226, 'BNs', 'Bayesian Networks'), (226, 'ML', 'Maximum Likelihood'),
    (226, 'EM', 'Expectation Maximization'), (226, 'AU', 'Action Unit'),
    (228, 'SCF', 'subcategorization frame'), (229, 'PTZ', 'pan-tilt-zoom'),
    (232, 'OCR', 'optical character recognition'), (236, 'CNN', 'Convolutional Neural Network'),
    (244, 'PAKTUS', 'PRC Adaptive Knowledge-based Text Understanding System'), (244, 'NLP', 'natural language processing'),
    (253, 'NLP', 'Natural Language Processing'), (261, 'SVRG', 'Stochastic Variance Reduced Gradient'),
    (261, 'SDCA', 'Stochastic Dual Coordinate Ascent'), (266, 'SLS', 'Spoken Language Systems'),
    (267, 'EM', 'expectation-maximization'), (269, 'NLG', 'Natural Language Generation'),
    (271, 'NLP', 'natural language parsing'), (285, 'MFCCs', 'mel-frequency cepstral coefficients'),
    (285, 'DOCCs', 'damped oscillator cepstral coefficients'), (285, 'AVEC', 'AudioVisual Emotion Recognition Challenge'),
    (286, 'DoPS', 'document oriented preference sets'), (291, 'SVM', 'Support Vector Machine'),
    (291, 'MHI', 'Motion History Image'), (291, 'HMHH', 'Hierarchical Motion History Histogram'),
    (295, 'WSD', 'word sense disambiguation'), (308, 'CRL', 'Computing Research Laboratory'),
    (308, 'GUI', 'Graphical User Interface'), (308, 'TUIT', 'TIPSTER User Interface Toolkit'),
    (310, 'FTLE', 'Finite Time Lyapunov Exponent'), (310, 'LCS', 'Lagrangian Coherent Structures'),
    (311, 'SMT', 'Statistical Machine Translation'), (315, 'FKT', 'Fukunaga-Koontz Transform'),
    (317, 'SDT', 'Schrödinger distance transform'), (319, 'HFOs', 'High frequency oscillations'),
    (320, 'SRH', 'speech recognition hypotheses'), (322, 'LM', 'language model'),
    (322, 'CER', 'character error rate'), (324, 'NPV', 'neuronal population vector'),
    (331, 'SCFs', 'subcategorization frames'), (331, 'MDL', 'Minimum Description Length Principle'),
    (333, 'IoU', 'Intersection-over-Union'), (333, 'EIoU', 'Expected-IoU'),
    (333, 'EIoEU', 'Expected-Intersection-over-Expected-Union'), (335, 'MT', 'machine translation'),
    (335, 'SimTran', 'Similarity-driven Transfer System'), (335, 'CBMT', 'case-based MT'),
    (337, 'ASL', 'American Sign Language'), (339, 'MCMC', 'Markov Chain Monte Carlo'),
    (342, 'DVF', 'displacement vector fields'), (346, 'AVS', 'acoustic vector sensor'),
    (346, 'NSI', 'non-speech interferences'), (347, 'PDS', 'patient discharge summary'),
    (347, 'HTML', 'HyperText Mark-Up Language'), (353, 'CCRs', 'Category Cooccurrence Restrictions'),
    (361, 'HOGs', 'histograms of oriented gradients'), (366, 'AOS', 'Additive Operator Splitting'),
    (375, 'CNNs', 'convolutional neural networks'), (376, 'EM', 'Expectation-Maximization'),
    (376, 'WSD', 'word sense disambiguation'), (379, 'SII', 'Speech Intelligibility Index'),
    (379, 'PESQ', 'Perceptual Evaluation of Speech Quality'), (380, 'LOD', 'levels of detail'),
    (382, 'MRF', 'Markov random field'), (382, 'ACGMRF', 'anisotropic circular Gaussian MRF'),
    (382, 'LSE', 'least squares estimate'), (382, 'ALSE', 'approximate least squares estimate'),
    (382, 'DFT', 'discrete Fourier transform'), (384, 'PCFG', 'probabilistic context-free grammar'),
    (385, 'KPSG', 'Korean Phonology Structure Grammar'), (386, 'IR', 'individual rationality'),
    (389, 'CRF', 'conditional random field'), (391, 'OOPs', 'oriented object proposals'),
    (393, 'SBIR', 'sketch-based image retrieval'), (400, 'MET', 'Multi-lingual Evaluation Task'),
    (400, 'NE', 'Named Entity'), (403, 'LCS', 'Listen-Communicate-Show'),
    (412, 'NCA', 'Noun Classifier Associations'), (415, 'LFG', 'Lexical-Functional Grammars'),
    (421, 'CCG', 'Combinatory Categorial Grammar'), (428, 'DOM', 'direct orthographical mapping'),
    (429, 'APAP', 'analog programmable array processor'), (432, 'HMM', 'hidden Markov model'),
    (432, 'CRF', 'conditional random field'), (433, 'MIL', 'Multiple Instance Learning'),
    (434, 'ERM', 'Empirical Risk Minimization'), (437, 'MBR', 'Minimum Bayes-Risk'),
    (441, 'MT', 'machine translation'), (448, 'NLP', 'Natural Language Processing'),
    (448, 'WSD', 'Word Sense Disambiguation'), (453, 'Q/A', 'question-answering'),
    (458, 'HMMs', 'hidden Markov models'), (460, 'LSTM', 'Long Short-Term Memory'),
    (461, 'MT', 'machine translation'), (462, 'ASA', 'Adaptive Simulated Annealing'),
    (467, 'MT', 'statistical machine translation'), (467, 'DP', 'dynamic programming'),
    (474, 'WARCA', 'Weighted Approximate Rank Component Analysis'), (479, 'TAG', 'tree-adjoining grammars'),
    (481, 'CNN', 'Convolutional Neural Networks'), (483, 'CDT', 'Constrained Delaunay Triangulation'),
    (483, 'LAGC', 'line-assisted graph-cut'), (487, 'CNN', 'convolutional neural networks'),
    (488, 'UV', 'Utterance Verification'), (488, 'ASR', 'Automatic Speech Recognition'),
    (488, 'OOV', 'out-of-vocabulary'), (489, 'ASR', 'automatic speech recognition'),
    (489, 'OA', 'offset adaptation'), (489, 'AN', 'auditory nerve'),
    (489, 'ANFs', 'AN fibers'), (489, 'ONs', 'onset neurons'),
    (489, 'MLPs', 'Multi-layer perceptrons'), (489, 'GMMs', 'Gaussian mixture models'),
    (495, 'ESS', 'efficient subwindow search'), (497, 'ACE', 'Automatic Content Extraction'),
    (499, 'NN', 'nearest neighbor'), (499, 'LSH', 'locality-sensitive hashing'),
]
# (abstract, acronym, expansion) for ``acronym -LRB- expansion -RRB-``.
REVERSE = [
    (74, "ATIS", "Air Travel Information System"), (74, "MADCOW", "Multi-site ATIS Data COllection Working group"),
    (370, "CCLINC", "Common Coalition Language System at Lincoln Laboratory"),
    (382, "SAR", "synthetic aperture radar"), (395, "KDS", "Knowledge Delivery System"),
    (489, "MSG", "Modulation-filtered Spec-troGram"),
]
# Generic head nouns: an acronym or a name followed by one names the same thing (``HMM
# model``, ``BLEU score``); ``system`` is not one (an ``IR system`` is built for IR).
HEADS = {"model", "method", "approach", "algorithm", "architecture", "framework", "technique", "network",
         "classifier", "embedding", "representation", "score", "metric", "measure", "dataset", "corpus",
         "database", "toolkit"}
# Nouns after an expansion that make another thing of it (near misses, apart).
AFTER = {"system", "systems", "model", "models", "approach", "approaches", "method", "methods", "task", "tasks",
         "algorithm", "algorithms", "technique", "techniques", "framework", "component", "components", "module",
         "performance", "accuracy", "evaluation", "research", "application", "applications", "engine", "output",
         "error", "errors", "rate", "rates", "tools", "problem", "problems", "results", "community", "technology",
         "technologies", "capabilities", "interface", "interfaces", "data"}
# Words that do not make a near miss when they stand before an expansion: function words,
# and the verbs and quantifiers read in the candidates (``apply Constrained Delaunay ...``).
NOT_MODIFIER = set("""the a an of and or for in on with to by from as at is are was were be this that these those we
our it its their which such than then also can may into using use used via over under between both each more most
other some any all one two three four five new novel proposed standard based called namely i.e. e.g. s 's accept
achieve although another answer apply augment build building combining creating current developed discuss enriching
every extracting evaluating generate generates has have help how improving including introduce known many model
out present proposes render replace reducing several show take takes utilized when whether clustering engine
investigate""".split())
# Surfaces of a group by the rules above that are another thing when read: a task or field
# followed by a head noun is a thing made for it, not it (``WSD models``, ``SI corpus``).
APART = {"SI corpus", "WSD datasets", "WSD models", "WSI algorithm", "MT architecture", "MT architectures",
         "NLG architecture", "CNN embedding", "SMT algorithms", "SMT model", "SMT models"}

# Clusters read by hand: every surface as the abstracts write it; one thing each.
HAND = [
    # British and American spelling
    ["modeling", "modelling"], ["language modeling", "language modelling"],
    ["Acoustic modeling", "acoustic modeling", "acoustic modelling"],
    ["Summarisation", "summarisation", "summarization", "summa-rization"],
    ["Text Summarisation", "text summarisation", "text summarization"],
    ["behavior", "behaviors", "behaviour", "behaviours"],
    ["Optimisation", "optimisation", "optimization"],
    ["Labeled data", "Labelled data", "labeled data", "labelled data"],
    ["un-labelled data", "unlabeled data", "unlabelled data"],
    ["lexicalised", "lexicalized"], ["quan-tization", "quantisation", "quantization"],
    ["neighbor", "neighbour"], ["nearest neighbour", "nearest neighbor"],
    # tokenized punctuation, PDF line-break hyphens, spaces
    ["unification based grammar", "unification-based grammar"],
    ["data set", "data sets", "dataset", "datasets"],
    ["N-gram", "N-grams", "n-gram", "n-grams", "ngrams"],
    ["Neural Network", "Neural Networks", "neu-ral network", "neural network", "neural networks"],
    ["decision tree", "decision trees", "decision-tree"], ["parse tree", "parse trees", "parse-trees"],
    ["3 -- D reconstruction", "3-D reconstruction", "3D reconstruction", "3D reconstructions"],
    ["Automatic summarization", "automatic summa-rization", "automatic summarization"],
    ["UCF 101", "UCF101"], ["image in-painting", "image inpainting"],
    ["POS tags", "PoS-tag", "pos tag", "pos tags"], ["part of speech", "part-of-speech"],
    ["part of speech tagging", "part-of-speech tagging"],
    ["Structured Light", "Structured-light", "structured light", "structured-light"],
    ["predicate argument structures", "predicate-argument structures"],
    ["Spoken Language", "spoken language", "spoken-language"], ["machine learning", "machine-learning"],
    ["P-CFG", "PCFG"], ["EM algorithm", "EM-algorithm"],
    ["large vocabulary speech recognition", "large-vocabulary speech recognition"],
    ["Cooccurrence", "co-occurrence", "co-occurrences", "cooccurrence"], ["time complexity", "time-complexity"],
    ["TreeBank", "Treebank", "tree-bank", "treebank"], ["data base", "database", "databases"],
    ["Toolkit", "tool kit", "toolkit", "toolkits"], ["knowledge base", "knowledge bases", "knowledgebases"],
    ["Error correction", "error correction", "error-correction"], ["overfitting", "over-fitting"],
    ["phrase structure", "phrase-structure"], ["Maximum Entropy", "maximum entropy", "maximum-entropy"],
    ["Max-ent", "Maxent"], ["SENSEVAL-2", "SENSEVAL2", "Senseval-2"], ["flow field", "flowfield"],
    ["Structure from Motion", "structure from motion", "structure-from-motion"],
    ["evaluation metric", "evaluation metrics", "evaluation met-rics"], ["normalization", "normaliza-tion"],
    ["Chart parsing", "chart parsing", "chart-parsing"], ["chart parser", "chart-parser"],
    ["Wall Street Journal", "Wallstreet Journal"], ["noisy channel", "noisy-channel"],
    ["Graph-cuts", "graph cuts", "graph-cut", "graph-cuts"], ["base classifier", "base classifiers", "base-classifier"],
    ["word clustering", "word-clustering"], ["hash-tag recommendation", "hashtag recommendation"],
    ["low rank matrix", "low-rank matrix"], ["Branch and bound", "branch-and-bound"],
    ["random projection", "random-projection"],
    ["image segmentation", "image seg-mentation", "image segmentations"], ["3D surface", "3 -- D surface"],
    ["ground truth", "ground-truth"], ["gold standard", "gold-standard"], ["preprocessing", "pre-processing"],
    ["Machine transliteration/back-transliteration", "machine transliteration/backtransliteration"],
    # singular and plural
    ["estimation algorithm", "estimation algorithms"], ["evaluation measure", "evaluation measures"],
    ["depth map", "depth maps"], ["word alignment", "word alignments"], ["feature vector", "feature vectors"],
    ["objective function", "objective functions"], ["latent variable", "latent variables"],
    ["test set", "test sets"], ["dependency tree", "dependency trees"], ["dependency parser", "dependency parsers"],
    ["kernel function", "kernel functions"], ["similarity measure", "similarity measures"],
    ["semantic role", "semantic roles"], ["facial expression", "facial expressions"],
    ["conversational agent", "conversational agents"], ["feature structure", "feature structures"],
    ["bilingual dictionary", "bilingual dictionaries"], ["translation lexicon", "translation lexicons"],
    ["probability distribution", "probability distributions"], ["clustering algorithm", "clustering algorithms"],
    ["evaluation methodology", "evaluation methodologies"], ["syntactic ambiguity", "syntactic ambiguities"],
    # a leading article
    ["Web", "the Web"], ["PASCAL VOC", "the PASCAL VOC"], ["Phonebook", "the Phonebook"], ["MeSH", "the MeSH"],
]



def loose(surface: str) -> str:
    """Lower case, letters and digits only, a final plural dropped (the draft's grouping)."""
    s = re.sub(r"[^a-z0-9]", "", surface.lower())
    if s.endswith("ies") and len(s) > 5:
        return s[:-3] + "y"
    if s.endswith("s") and not s.endswith("ss") and len(s) > 3:
        return s[:-1]
    return s


def acronym_key(acronym: str) -> str:
    return re.sub(r"[^a-z0-9]", "", re.sub(r"(?<=[A-Z0-9])s$", "", acronym).lower())


def is_name(token: str) -> bool:
    return (token[:1].isalpha() and sum(c.isalpha() for c in token) >= 2
            and (any(c.isupper() for c in token[1:]) or any(c.isdigit() for c in token)))


def occurrences(texts: list[str], surface: str) -> list[int]:
    pattern = re.compile(r"(?<!\S)" + re.escape(surface) + r"(?!\S)")
    return [i for i, t in enumerate(texts) if pattern.search(t)]


def spellings(texts: list[str], expansion: str) -> set[str]:
    """The expansion as the corpus writes it anywhere: case, hyphens or spaces between its
    words, a plural last word."""
    words = re.split(r"[\s-]+", expansion)
    stem = words[-1][:-1] if words[-1].lower().endswith("s") and len(words[-1]) > 3 else words[-1]
    body = r"(?:\s*-\s*|\s+)".join(re.escape(w) for w in words[:-1] + [stem])
    pattern = re.compile(r"(?<!\S)(" + body + r"(?:s|es)?)(?!\S)", re.IGNORECASE)
    return {m.group(1) for t in texts for m in pattern.finditer(t)}


def main() -> None:
    texts = [row["passage_text"] for row in load_scierc()]
    defined = [(i, a, e, f"{e} -LRB- {a} -RRB-") for i, a, e in DEFINITIONS]
    defined += [(i, a, e, f"{a} -LRB- {e} -RRB-") for i, a, e in REVERSE]
    for i, a, e, written in defined:
        assert written in texts[i], (i, written)

    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        parent[find(b)] = find(a)

    items: set[str] = set()
    # Compounds: (word before, the surface they extend, noun after). Two compounds of one
    # concept with the same words around it are one thing (``MT system`` / ``machine
    # translation systems``, ``Robust speech recognition`` / ``robust speech recognition``).
    compounds: dict[str, tuple[str, str, str]] = {}
    defined_as: dict[str, set[str]] = collections.defaultdict(set)
    # Expansions: one concept per loose form; every spelling of it in the corpus.
    concept_of: dict[str, str] = {}
    for i, a, e, written in defined:
        concept = "e:" + loose(e)
        concept_of[e] = concept
        for spelt in spellings(texts, e) | {e}:
            items.add(spelt)
            union(concept, spelt)
        items.add(written)
        union(concept, written)
        defined_as[a].add(e)
    # Acronyms: with the expansion a strict majority of the abstracts defining them give
    # (a narrower expansion counting for the broader one it ends in), else on their own.
    votes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for i, a, e, _ in defined:
        votes[acronym_key(a)][concept_of[e]] += 1
    for key, counter in votes.items():
        merged = collections.Counter()
        for concept, n in counter.items():
            broader = [c for c in counter if c != concept and concept.endswith(c[2:]) and len(c) < len(concept)]
            merged[min(broader, key=len) if broader else concept] += n
        top, n = merged.most_common(1)[0]
        if n * 2 > sum(merged.values()):
            union(top, "a:" + key)
    forms = {a for _, a, _, _ in defined}
    forms |= {a + "s" for a in forms if not a.endswith("s")} | {a[:-1] for a in forms if re.search(r"[A-Z0-9]s$", a)}
    for form in forms:
        if occurrences(texts, form):
            items.add(form)
            union("a:" + acronym_key(form), form)
    # An acronym followed by a noun: a generic head names the acronym's concept.
    for form in sorted(forms):
        for t in texts:
            for m in re.finditer(r"(?<!\S)" + re.escape(form) + r" ([a-z]+)(?!\S)", t):
                head = m.group(1)
                if head in HEADS or head.rstrip("s") in HEADS or head in AFTER:
                    surface = f"{form} {head}"
                    items.add(surface)
                    compounds[surface] = ("", form, loose(head))
                    if (head in HEADS or head.rstrip("s") in HEADS) and surface not in APART:
                        union("a:" + acronym_key(form), surface)
    # Near misses around every expansion (not a fragment of a longer expansion: ``Chinese
    # Natural Language`` of ``Chinese Natural Language Processing``).
    known = {x.lower() for _, _, e, _ in defined for x in spellings(texts, e)}
    for _, _, e, _ in defined:
        for spelt in spellings(texts, e):
            for t in texts:
                for m in re.finditer(r"(?<!\S)([A-Za-z][a-z\-]+) " + re.escape(spelt) + r"(?: (\S+))?(?!\S)", t):
                    longer = f"{spelt} {m.group(2)}".lower() if m.group(2) else ""
                    if m.group(1).lower() not in NOT_MODIFIER and not any(k.startswith(longer) for k in known if longer):
                        items.add(f"{m.group(1)} {spelt}")
                        compounds[f"{m.group(1)} {spelt}"] = (loose(m.group(1)), spelt, "")
                for m in re.finditer(r"(?<!\S)" + re.escape(spelt) + r" ([a-z]+)(?!\S)", t):
                    if m.group(1) in AFTER:
                        items.add(f"{spelt} {m.group(1)}")
                        compounds[f"{spelt} {m.group(1)}"] = ("", spelt, loose(m.group(1)))
    for cluster in HAND:
        for surface in cluster:
            assert occurrences(texts, surface), surface
            items.add(surface)
            union(cluster[0], surface)
    same_compound: dict[tuple[str, str, str], str] = {}
    for surface, (before, base, after) in sorted(compounds.items()):
        key = (before, find(base), after)
        if key in same_compound:
            union(same_compound[key], surface)
        same_compound.setdefault(key, surface)
    groups: dict[str, list[str]] = collections.defaultdict(list)
    for surface in items:
        groups[find(surface)].append(surface)
    ordered = sorted((sorted(g) for g in groups.values()), key=lambda g: (len(g) == 1, g[0].lower(), g[0]))
    for number, group in enumerate(ordered, start=1):
        for surface in group:
            row = {"group": f"{'s' if len(group) == 1 else 'g'}{number:04d}", "surface": surface, "type": TYPE}
            if surface in defined_as:
                row["defined_as"] = sorted(defined_as[surface])
            print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main()
