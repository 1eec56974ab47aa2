"""How scierc_concept_gold.jsonl was drafted (kept for the record; see the README here).

Candidates: SciERC mentions of one type whose loose form (lower case, brackets dropped,
punctuation and spaces dropped, a final s or ies → y dropped, leading article dropped) is equal,
joined with acronyms paired with an expansion in any abstract. Every candidate group was
then read by hand: REJECT lists the surfaces taken out of a group (a different thing);
ADD lists groups found by hand that the candidates missed.
Run: python polymath_assets_tests/data/build_scierc_concept_gold.py > polymath_assets_tests/data/scierc_concept_gold.jsonl
"""

import collections
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from polymath_assets.concepts.acronyms import find_pairs  # noqa: E402
from polymath_assets_tests.real_text import load_scierc  # noqa: E402

# (surface, type) read by hand as a different thing from the rest of its candidate group.
REJECT = {
    ("TAG", "OtherScientificTerm"),          # tree-adjoining grammar, not a (POS) tag
    ("WordNet", "Material"),                 # the resource, not wordnets in general
    ("semantics", "OtherScientificTerm"),    # the field, not a semantic (feature)
    ("hierarchical -LRB- or other types of -RRB- relations", "OtherScientificTerm"),  # widened in the middle
    ("natural language parsing -LRB- NLP -RRB-", "Task"),  # NLP is mostly natural language processing
}
# Groups read by hand that the candidates missed.
ADD: list[list[tuple[str, str]]] = [
    [("feature space", "OtherScientificTerm"), ("features space", "OtherScientificTerm")],
]


def loose(surface: str) -> str:
    s = surface.lower().replace("-lrb-", "(").replace("-rrb-", ")")
    s = re.sub(r"\(.*?\)", "", s)
    w = re.findall(r"[a-z0-9]+", s)
    if w and w[0] in ("the", "a", "an"):
        w = w[1:]
    joined = "".join(w)
    if joined.endswith("ies") and len(w[-1]) > 4:
        return joined[:-3] + "y"
    if joined.endswith("s") and not joined.endswith("ss") and len(w[-1]) > 2:
        return joined[:-1]
    return joined


def main() -> None:
    rows = load_scierc()
    mentions = sorted({(m["text"], m["type"]) for r in rows for m in r["mentions"]})
    parent = {m: m for m in mentions}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a, b):
        parent[find(b)] = find(a)

    by_loose = collections.defaultdict(list)
    for m in mentions:
        if m not in REJECT:
            by_loose[(loose(m[0]), m[1])].append(m)
    for members in by_loose.values():
        for m in members[1:]:
            union(members[0], m)
    pairs = collections.defaultdict(collections.Counter)
    for r in rows:
        for short, long in find_pairs(r["passage_text"]):
            pairs[loose(short)][loose(long)] += 1
    for (key, type_), members in by_loose.items():
        if key in pairs:
            expansion, _ = pairs[key].most_common(1)[0]
            partners = by_loose.get((expansion, type_))
            if partners:
                union(partners[0], members[0])
    for group in ADD:
        for m in group[1:]:
            union(group[0], m)
    groups = collections.defaultdict(list)
    for m in mentions:
        groups[find(m)].append(m)
    multi = sorted(sorted(g) for g in groups.values() if len(g) > 1)
    for number, group in enumerate(multi, start=1):
        for surface, type_ in group:
            print(json.dumps({"group": f"g{number:04d}", "surface": surface, "type": type_}, ensure_ascii=False))


if __name__ == "__main__":
    main()
