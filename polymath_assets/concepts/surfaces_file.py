"""Reading JSONL lists — the names of ``polymath concepts resolve``, the gold set of
``polymath concepts calibrate`` — all lines valid or nothing (every bad line reported with
its number); writing ``resolve``'s answer one JSON object per line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from polymath_assets.concepts.resolver import Surface

MAX_REPORTED = 20
# Characters JSON leaves unescaped that str.splitlines() and some JSONL readers take for
# line breaks: escaped, so one name is always one line whatever reads the file.
_LINE_BREAKS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}

Item = TypeVar("Item")


class FileRejected(ValueError):
    """A file with bad lines (``errors``, each naming its line): nothing was done with it."""

    def __init__(self, path: Path, errors: list[str], nothing: str = "nothing resolved"):
        self.errors = errors
        shown = "\n".join(errors[:MAX_REPORTED])
        more = f"\n... and {len(errors) - MAX_REPORTED} more" if len(errors) > MAX_REPORTED else ""
        super().__init__(f"{path}: {len(errors)} bad line(s), {nothing}; fix them and run again:\n{shown}{more}")


def read_jsonl(path: Path, parse_row: Callable[[object, int], tuple[Item | None, str | None]],
               nothing: str = "nothing resolved") -> list[Item]:
    """Every non-blank line's JSON value through ``parse_row(value, line number)`` → (item,
    None) or (None, why it is bad); read line by line as bytes, so a line that is not UTF-8
    is reported, not a traceback. Raises ``FileRejected`` (saying ``nothing``) when any line is bad."""
    items, errors = [], []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                # utf-8-sig: a byte order mark (editors on Windows write one) is not part of line 1
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as err:
                errors.append(f"line {number}: not UTF-8 (byte {err.start + 1}: {raw[err.start:err.start + 1]!r})")
                continue
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as err:
                errors.append(f"line {number}: not JSON ({err.msg})")
                continue
            item, error = parse_row(value, number)
            if error:
                errors.append(f"line {number}: {error}")
            else:
                items.append(item)
    if errors:
        raise FileRejected(path, errors, nothing)
    return items


def parse_name(item: object, number: int = 0) -> tuple[Surface | None, str | None]:
    if not isinstance(item, dict):
        return None, "expected an object with name and type"
    name, type_ = item.get("name"), item.get("type")
    if not isinstance(name, str) or not name.strip():
        return None, "name missing or not a non-empty string"
    if not isinstance(type_, str) or not type_.strip():
        return None, "type missing or not a non-empty string"
    for field, value in (("name", name), ("type", type_)):
        problem = _unstorable(value)
        if problem:
            return None, f"{field} {problem}"
    return Surface(name, type_), None


def _unstorable(text: str) -> str | None:
    """Why PostgreSQL cannot store ``text`` as it is (JSON can spell both cases), or None."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which PostgreSQL text cannot hold"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (\\ud800-\\udfff escape without its pair), which is not Unicode text"
    return None


def read_surfaces(path: Path) -> list[Surface]:
    return read_jsonl(path, parse_name)


def json_line(item: dict) -> str:
    """One JSONL line, non-ASCII kept readable; a name holding U+2028 stays on its line."""
    text = json.dumps(item, ensure_ascii=False)
    for char, escaped in _LINE_BREAKS.items():
        text = text.replace(char, escaped)  # only inside strings: JSON puts none of them elsewhere
    return text + "\n"
