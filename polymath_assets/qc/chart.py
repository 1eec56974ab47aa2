"""The QC chart: one PNG with the three pictures a reviewer looks at first."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display anywhere this runs

import matplotlib.pyplot as plt  # noqa: E402

_ALIGNMENT_ORDER = ("exact", "normalized", "fuzzy", "unaligned")


def render_chart(path: Path, *, concepts_per_passage: list[int], alignment: dict[str, int],
                 types: dict[str, dict[str, int]], concepts_band: tuple[float, float]) -> Path:
    """Histogram of concepts per passage with the gate band, evidence alignment shares, and
    concept-type shares per extractor version."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), dpi=90)

    ax = axes[0]
    if concepts_per_passage:
        ax.hist(concepts_per_passage, bins=range(0, max(concepts_per_passage) + 2), color="#4C72B0", edgecolor="white")
    low, high = concepts_band
    ax.axvspan(low, high + 1, color="#55A868", alpha=0.15, label=f"gate {low:g}–{high:g}")
    ax.legend(loc="upper right")
    ax.set_title("Concepts per passage")
    ax.set_xlabel("concepts")
    ax.set_ylabel("passages")

    ax = axes[1]
    total = sum(alignment.values()) or 1
    labels = [a for a in _ALIGNMENT_ORDER if a in alignment] + sorted(set(alignment) - set(_ALIGNMENT_ORDER))
    ax.bar(labels, [alignment[a] / total for a in labels], color=["#55A868", "#8172B2", "#CCB974", "#C44E52", "#999"][:len(labels)])
    ax.set_ylim(0, 1)
    ax.set_title("Evidence alignment (share of concepts)")

    ax = axes[2]
    all_types = sorted({t for counts in types.values() for t in counts})
    width = 0.8 / max(1, len(types))
    for i, (version, counts) in enumerate(sorted(types.items())):
        version_total = sum(counts.values()) or 1
        ax.bar([x + i * width for x in range(len(all_types))], [counts.get(t, 0) / version_total for t in all_types],
               width=width, label=version)
    ax.set_xticks([x + width * (len(types) - 1) / 2 for x in range(len(all_types))], all_types, rotation=30)
    ax.set_title("Concept types by extractor version")
    if types:
        ax.legend(fontsize="small")

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
