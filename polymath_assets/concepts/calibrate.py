"""The embedding stage's threshold belongs to the embedding model: calibrated on a gold set
(``polymath concepts calibrate --gold FILE``) and recorded with the model's name in the
resolver's configuration (``concept_resolver_config``), so BGE-M3 never runs with a
threshold measured for the small packaged model.

The gold file is JSONL, one ``{"surface": ..., "type": ..., "group": ...}`` per surface
of the set; surfaces with one group name one thing, a surface without a group stands
alone. It is resolved in memory (``memory.MemoryStore``: nothing stored is read or
changed) at each threshold of a grid, every name embedded once; the acronym stage uses
the list itself as evidence, as ``concepts resolve`` does. Measured at each threshold:
the precision and recall of the pairs the embedding stage joins (pairs already together
without it do not count), and B³ of the whole resolution. Chosen: the threshold with the
best F1 of the embedding stage among those whose precision reaches ``min_precision``
(the higher threshold on a tie).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from polymath_assets.concepts.acronyms import input_set_pairs
from polymath_assets.concepts.memory import MemoryStore
from polymath_assets.concepts.names import cached_vectors
from polymath_assets.concepts.quality import Scores, b_cubed, stage_scores
from polymath_assets.concepts.resolver import ResolverSettings, Surface, resolve
from polymath_assets.concepts.surfaces_file import FileRejected, read_jsonl
from polymath_assets.kb import canonical

# Thresholds of models measured in this repository, used when nothing is recorded.
BUILT_IN = {"packaged-minilm": 0.985}
GRID = tuple(round(0.80 + 0.005 * i, 3) for i in range(40))   # 0.800 … 0.995


def threshold_for(settings: ResolverSettings, recorded: tuple[float, str] | None) -> tuple[float | None, str]:
    """(the embedding threshold a run uses, where it comes from): set in the environment,
    else recorded for the model by a calibration, else built in, else none (the stage
    then merges nothing)."""
    if settings.similarity is not None:
        return settings.similarity, "POLYMATH_CONCEPT_SIMILARITY"
    if recorded is not None:
        return recorded
    if settings.model in BUILT_IN:
        return BUILT_IN[settings.model], f"built-in default for {settings.model}, tuned on the SciERC NER gold set"
    return None, (f"none: no threshold is calibrated for {settings.model!r}, so the embedding stage merges nothing; "
                  "run `polymath concepts calibrate --gold FILE`")


@dataclass(frozen=True)
class GoldItem:
    surface: str
    type: str
    group: str


def read_gold(path: Path) -> list[GoldItem]:
    """The gold file's items; every bad line reported with its number, or nothing read
    (``FileRejected``). A group is a string or an integer, and ``1`` and ``"1"`` are two."""
    seen: set[tuple[str, str]] = set()

    def parse(row: object, number: int) -> tuple[GoldItem | None, str | None]:
        if not isinstance(row, dict) or not all(isinstance(row.get(k), str) and row[k].strip()
                                                for k in ("surface", "type")):
            return None, "expected an object with a non-empty surface and type"
        group = row.get("group")
        if group is not None and (isinstance(group, bool) or not isinstance(group, (str, int))):
            return None, "group must be a string, an integer or absent"
        key = (row["surface"], row["type"])
        if key in seen:
            return None, f"{key} is listed twice"
        seen.add(key)
        return GoldItem(*key, f"alone:{number}" if group is None else f"{type(group).__name__}:{group}"), None

    items = read_jsonl(path, parse, NOTHING)
    if not items:
        raise FileRejected(path, ["no surfaces"], NOTHING)
    return items


NOTHING = "nothing calibrated"


@dataclass(frozen=True)
class Point:
    threshold: float
    stage: Scores   # of the pairs the embedding stage joined, against the gold pairs the earlier stages left apart
    joined: int     # pairs the embedding stage joined
    b3: Scores      # of the whole resolution


@dataclass(frozen=True)
class Calibration:
    model: str
    surfaces: int
    min_precision: float
    points: list[Point]
    chosen: Point | None
    without_embedding: Scores   # B³ with the stage off

    def table(self) -> list[str]:
        lines = [f"{'threshold':>9} {'joined':>7} {'precision':>9} {'recall':>7} {'F1':>6}   B³ P / R / F1"]
        for p in self.points:
            mark = "  <- chosen" if p == self.chosen else ""
            lines.append(f"{p.threshold:9.3f} {p.joined:7d} {p.stage.precision:9.3f} {p.stage.recall:7.3f} "
                         f"{p.stage.f1:6.3f}   {p.b3.precision:.3f} / {p.b3.recall:.3f} / {p.b3.f1:.3f}{mark}")
        return lines


def calibrate(items: list[GoldItem], embed: Callable[[list[str]], np.ndarray], settings: ResolverSettings, *,
              min_precision: float, grid: tuple[float, ...] = GRID) -> Calibration:
    """Resolve the gold items at every threshold of ``grid`` and choose one."""
    cached = cached_vectors(embed)
    surfaces = [Surface(i.surface, i.type) for i in items]
    pairs = input_set_pairs(i.surface for i in items)
    gold = {(i.surface, i.type): i.group for i in items}

    def clusters(similarity: float | None) -> dict:
        found = resolve(MemoryStore(), surfaces, cached, replace(settings, similarity=similarity), input_pairs=pairs)
        return {(d.name, d.type): d.concept_id for d in found.decisions}

    before = clusters(None)
    points = []
    for threshold in grid:
        after = clusters(threshold)
        stage, joined = stage_scores(before, after, gold)
        points.append(Point(threshold, stage, joined, b_cubed(after, gold)))
    eligible = [p for p in points if p.joined and p.stage.precision >= min_precision]
    chosen = max(eligible, key=lambda p: (round(p.stage.f1, 6), p.threshold)) if eligible else None
    return Calibration(settings.model, len(items), min_precision, points, chosen, b_cubed(before, gold))


def calibrate_gold_file(conn, path: Path, embed: Callable[[list[str]], np.ndarray], settings: ResolverSettings, *,
                        min_precision: float, actor: str, save: bool = True) -> Calibration:
    """``polymath concepts calibrate``: read the gold file, calibrate, and record the chosen
    threshold for the model (``save``); the caller commits."""
    items = read_gold(path)
    result = calibrate(items, embed, settings, min_precision=min_precision)
    if save and result.chosen is not None:
        canonical.save_calibration(
            conn, model=settings.model, similarity=result.chosen.threshold, gold_file=path.name,
            gold_sha256=hashlib.sha256(path.read_bytes()).hexdigest(), gold_surfaces=len(items),
            min_precision=min_precision, precision=result.chosen.stage.precision, recall=result.chosen.stage.recall,
            b3_f1=result.chosen.b3.f1, actor=actor,
            sweep=[{"threshold": p.threshold, "precision": round(p.stage.precision, 4),
                    "recall": round(p.stage.recall, 4), "joined": p.joined, "b3_precision": round(p.b3.precision, 4),
                    "b3_recall": round(p.b3.recall, 4)} for p in result.points])
    return result
