"""Reading a JSONL list of ``{"name": ..., "type": ...}`` for ``polymath concepts resolve``:
all lines valid or nothing (every bad line reported with its number)."""

from __future__ import annotations

import json
from pathlib import Path

from polymath_assets.concepts.resolver import Surface

MAX_REPORTED = 20


class SurfacesRejected(ValueError):
    def __init__(self, path: Path, errors: list[str]):
        self.errors = errors
        shown = "\n".join(errors[:MAX_REPORTED])
        more = f"\n... and {len(errors) - MAX_REPORTED} more" if len(errors) > MAX_REPORTED else ""
        super().__init__(f"{path}: {len(errors)} bad line(s), nothing resolved; fix them and run again:\n{shown}{more}")


def parse_line(line: str) -> tuple[Surface | None, str | None]:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as err:
        return None, f"not JSON ({err.msg})"
    if not isinstance(item, dict):
        return None, "expected an object with name and type"
    name, type_ = item.get("name"), item.get("type")
    if not isinstance(name, str) or not name.strip():
        return None, "name missing or not a non-empty string"
    if not isinstance(type_, str) or not type_.strip():
        return None, "type missing or not a non-empty string"
    return Surface(name, type_), None


def read_surfaces(path: Path) -> list[Surface]:
    surfaces, errors = [], []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            surface, error = parse_line(line)
            if error:
                errors.append(f"line {number}: {error}")
            else:
                surfaces.append(surface)
    if errors:
        raise SurfacesRejected(path, errors)
    return surfaces
