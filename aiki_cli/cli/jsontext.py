"""The text of a `--json` document: exactly what `json.dumps(document, indent=2,
ensure_ascii=False)` writes, at a fraction of its cost for a run's long list of tasks.

With `indent`, the standard library encodes in Python, value by value; without it, in C.
Here an object or array holding only plain scalars is encoded by the C encoder whole, its
item separator carrying the newline and indentation of its level, so only the containers
that hold containers are walked in Python. `tests/unit/test_json_text.py` compares the
two on generated documents.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from json import encoder
from typing import Any

INDENT = 2
_ARRAYS = (list, tuple)
_SCALARS = frozenset({str, int, float, bool, type(None)})
_LEAF = json.JSONEncoder(ensure_ascii=False).encode


def dumps(document: Any) -> str:
    """`json.dumps(document, indent=2, ensure_ascii=False)`."""
    try:
        return _text(document, 0)
    except _Unusual:
        return json.dumps(document, indent=INDENT, ensure_ascii=False)


class _Unusual(Exception):
    """A key that is not text in an object walked here: left to `json.dumps`."""


def _text(value: Any, level: int) -> str:
    if isinstance(value, dict):
        return _object(value, level) if value else "{}"
    if isinstance(value, _ARRAYS):
        return _array(value, level) if value else "[]"
    return _LEAF(value)


def _object(value: dict[Any, Any], level: int) -> str:
    inner, end = _breaks(level)
    if _flat_items(value.values()):
        return "{" + inner + _flat(level)(value)[1:-1] + end + "}"
    if not all(type(key) is str for key in value):
        raise _Unusual
    items = [_LEAF(key) + ": " + _text(item, level + 1) for key, item in value.items()]
    return "{" + inner + ("," + inner).join(items) + end + "}"


def _array(value: list[Any] | tuple[Any, ...], level: int) -> str:
    inner, end = _breaks(level)
    if _flat_items(value):
        return "[" + inner + _flat(level)(value)[1:-1] + end + "]"
    items = [_text(item, level + 1) for item in value]
    return "[" + inner + ("," + inner).join(items) + end + "]"


def _flat_items(items: Iterable[Any]) -> bool:
    """Whether every item is a plain scalar (anything else is walked here)."""
    return _SCALARS.issuperset(map(type, items))


@functools.cache
def _breaks(level: int) -> tuple[str, str]:
    """What comes before each item of a container at `level`, and before its closing."""
    return "\n" + " " * (INDENT * (level + 1)), "\n" + " " * (INDENT * level)


@functools.cache
def _flat(level: int) -> Callable[[Any], str]:
    """The C encoder of a container at `level` whose items are no containers: the one
    `JSONEncoder.encode` makes on every call, made once."""
    inner, _ = _breaks(level)
    standard = json.JSONEncoder(ensure_ascii=False, separators=("," + inner, ": "))
    make = getattr(encoder, "c_make_encoder", None)  # not in typeshed
    if make is None:  # a Python built without the accelerator
        return standard.encode
    chunks = make(
        None,  # no check for cycles: a document is a tree
        standard.default,
        encoder.encode_basestring,
        None,
        standard.key_separator,
        standard.item_separator,
        False,
        False,
        True,
    )
    return lambda value: "".join(chunks(value, 0))
