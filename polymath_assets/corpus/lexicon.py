"""Scientific vocabulary by concept type.

Shared by the synthetic corpus generator (which writes passages from it) and the
offline extractor behind the Gemini emulator (which recognises terms from it), so the
offline pipeline produces concepts that look like a real model's.
"""

LEXICON: dict[str, tuple[str, ...]] = {
    "method": (
        "graph neural network", "contrastive learning", "Bayesian optimization", "gradient boosting",
        "variational inference", "Monte Carlo tree search", "spectral clustering", "transfer learning",
        "single-cell RNA sequencing", "CRISPR-Cas9 screening", "density functional theory",
        "molecular dynamics simulation", "principal component analysis", "attention mechanism",
        "knowledge distillation", "active learning", "federated learning", "Gibbs sampling",
        "finite element analysis", "mass spectrometry", "X-ray crystallography", "cryo-electron microscopy",
        "reinforcement learning", "low-rank adaptation", "diffusion modelling", "kernel regression",
    ),
    "problem": (
        "protein structure prediction", "catastrophic forgetting", "class imbalance", "domain shift",
        "drug–target interaction prediction", "cell type annotation", "anomaly detection",
        "named entity recognition", "batch effect correction", "few-shot classification",
        "long-range dependency modelling", "causal effect estimation", "missing data imputation",
        "out-of-distribution detection", "hallucination in language models", "image segmentation",
        "variant effect prediction", "climate downscaling",
    ),
    "domain": (
        "spatial transcriptomics", "computational chemistry", "natural language processing",
        "computer vision", "genomics", "neuroscience", "materials science", "epidemiology",
        "climate science", "structural biology", "quantum chemistry", "medical imaging",
        "bioinformatics", "astrophysics", "proteomics",
    ),
    "model": (
        "BERT", "GPT-4", "AlphaFold2", "ResNet-50", "Transformer", "U-Net", "ESM-2", "scGPT",
        "Vision Transformer", "LSTM", "XGBoost", "random forest", "Gaussian process", "BGE-M3",
        "Llama 3", "graph attention network", "variational autoencoder",
    ),
    "dataset": (
        "ImageNet", "CIFAR-10", "Protein Data Bank", "UK Biobank", "MIMIC-III", "SQuAD",
        "The Cancer Genome Atlas", "Human Cell Atlas", "GLUE benchmark", "ChEMBL", "QM9",
        "Tabula Muris", "ENCODE", "OpenWebText",
    ),
    "metric": (
        "F1 score", "area under the ROC curve", "mean squared error", "BLEU score", "perplexity",
        "top-1 accuracy", "Pearson correlation", "adjusted Rand index", "root-mean-square deviation",
        "mean average precision", "Matthews correlation coefficient", "negative log-likelihood",
    ),
    "entity": (
        "Escherichia coli", "Saccharomyces cerevisiae", "TP53", "BRCA1", "SARS-CoV-2",
        "hippocampus", "mitochondria", "graphene", "α-synuclein", "Schrödinger equation",
        "Arabidopsis thaliana", "T cells", "perovskite", "Drosophila melanogaster", "Mus musculus",
    ),
}

CONCEPT_TYPES: tuple[str, ...] = tuple(LEXICON)


def all_terms() -> list[tuple[str, str]]:
    """(term, type) pairs, longest first so that a matcher prefers the longest term."""
    pairs = [(term, kind) for kind, terms in LEXICON.items() for term in terms]
    return sorted(pairs, key=lambda pair: -len(pair[0]))
