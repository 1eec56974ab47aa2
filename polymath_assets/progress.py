"""Progress bars for long CLI work: shown on a terminal, silent otherwise (CI, logs, Dagster)."""

from __future__ import annotations

from tqdm import tqdm


def progress_bar(total: int | None = None, desc: str = "", unit: str = "it", unit_scale: bool = False) -> tqdm:
    # disable=None: tqdm turns itself off when stderr is not a terminal.
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=unit_scale, disable=None, dynamic_ncols=True,
                leave=False)
