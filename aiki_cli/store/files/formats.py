"""Telling a file written by a newer aiki from a damaged one.

Files carry a format version (`run.json`'s `format`), and a journal line its entry
`type`. A newer aiki that writes a newer format, or an entry type this one does not
know, names itself in that file or line (`"aiki": "0.3.0"`), so that an older aiki can
say which version to upgrade to; without that it asks for one that reads the format.
Such a run is not damaged: it is left alone, never failed, and nothing of it is cut.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from ...errors import NewerFormat


@cache
def this_aiki() -> str:
    try:
        return f"aiki {version('aiki')}"
    except PackageNotFoundError:
        return "this aiki"


def _object(data: bytes) -> dict[str, Any] | None:
    try:
        found = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return found if isinstance(found, dict) else None


def _needed(found: dict[str, Any], otherwise: str) -> str:
    writer = found.get("aiki")
    if isinstance(writer, str) and 0 < len(writer) <= 40 and writer.isprintable():
        return f"aiki {writer} or later"
    return otherwise


def newer_spec(run_id: str, path: str, data: bytes, reads: int) -> NewerFormat | None:
    """`NewerFormat` when `data` (a `run.json`) has a format above `reads`; else None."""
    found = _object(data)
    if found is None:
        return None
    number = found.get("format")
    if type(number) is not int or number <= reads:
        return None
    detail = f"{path} has format {number}, and {this_aiki()} reads format {reads}"
    needed = _needed(found, f"an aiki that reads run.json format {number}")
    return NewerFormat(run_id, detail, needed, path=path)


def newer_entry(
    run_id: str, path: str, line: bytes, number: int, known: frozenset[str]
) -> NewerFormat | None:
    """`NewerFormat` when journal `line` is an entry of a type not in `known`; else None."""
    found = _object(line)
    kind = None if found is None else found.get("type")
    if found is None or not isinstance(kind, str) or kind in known:
        return None
    detail = f"{path} line {number} is a {kind[:40]!r} entry, which {this_aiki()} does not know"
    needed = _needed(found, f"an aiki that knows {kind[:40]!r} entries")
    return NewerFormat(run_id, detail, needed, path=path, line=number)
