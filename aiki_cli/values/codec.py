"""Inputs, results and event data as JSON values, validated by an optional pydantic model
and refused above a size limit.

A value crosses the journal as JSON; code sees the same value on its first execution
and on every replay, because both come out of `decode(encode(value))`. The limit (10 MiB
of JSON by default) is set with the AIKI_MAX_VALUE_BYTES environment variable.

Whatever is accepted can be read back: a value nested deeper than `MAX_DEPTH` (the
readers of aiki's files refuse JSON nested deeper than 200 levels, and a value sits a
level or two inside the file that holds it) is refused before anything is stored, and so
is an object whose keys collide once written as JSON text (`{1: "a", "1": "b"}`).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import ConfigError, InputInvalid
from .canonical import canonical_json

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 100  # levels of arrays and objects, one limit for every value aiki stores
LIMIT_VARIABLE = "AIKI_MAX_VALUE_BYTES"
_SCALARS = frozenset({str, int, bool, type(None)})
_CONTAINERS = (dict, list, tuple)
_PLAIN = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def max_value_bytes() -> int:
    """The largest value, in bytes of JSON, that aiki accepts."""
    setting = os.environ.get(LIMIT_VARIABLE)
    if setting is None:
        return DEFAULT_MAX_BYTES
    if not setting.strip().isdigit() or int(setting) < 1:
        raise ConfigError(f"{LIMIT_VARIABLE} must be a whole number of bytes, not {setting!r}")
    return int(setting)


class Codec:
    def __init__(self, model: type[BaseModel] | None, what: str) -> None:
        self.model = model
        self.what = what

    def encode(self, value: Any) -> Any:
        """`value` as a JSON value, validated; `InputInvalid` if it does not fit."""
        return self._encode(value, sort_keys=False)[0]

    def encode_hashed(self, value: Any) -> tuple[Any, str]:
        """`value` as a JSON value with objects in key order, and the SHA-256 of its
        canonical JSON (`canonical.input_hash`), from one serialization."""
        data, raw = self._encode(value, sort_keys=True)
        return data, hashlib.sha256(raw).hexdigest()

    def _encode(self, value: Any, *, sort_keys: bool) -> tuple[Any, bytes]:
        if self.model is not None:
            model_value = value if isinstance(value, self.model) else self.decode(value)
            value = model_value.model_dump(mode="json")
        if isinstance(value, _CONTAINERS):
            check_shape(value, self.what)
        try:
            text = canonical_json(value) if sort_keys else _PLAIN.encode(value)
            raw = text.encode()  # refuses lone surrogates, which no file can hold
        except (TypeError, ValueError) as error:
            raise InputInvalid(self.what, f"not a JSON value ({error})") from error
        self._check_size(raw)
        # Code sees what a replay will give it: the value as read back from its JSON.
        # Plain scalars read back as themselves, so they skip the round trip.
        return (value if type(value) in _SCALARS else json.loads(text)), raw

    def _check_size(self, data: bytes) -> None:
        limit = max_value_bytes()
        if len(data) > limit:
            raise InputInvalid(
                self.what,
                f"{len(data):,} bytes of JSON is above the limit of {limit:,} ({LIMIT_VARIABLE})",
            )

    def decode(self, data: Any) -> Any:
        """The value code receives: a model instance when there is a model."""
        if self.model is None:
            return data
        try:
            return self.model.model_validate(data)
        except ValidationError as error:
            raise InputInvalid(self.what, validation_problems(error)) from error


def check_shape(value: Any, what: str) -> None:
    """`InputInvalid` unless `value` nests at most `MAX_DEPTH` levels and no object's keys
    collide as JSON text: what is refused here is never written, so never unreadable."""
    level = [value]
    for depth in range(1, MAX_DEPTH + 2):
        inner = []  # the containers one level down
        for container in level:
            if isinstance(container, dict):
                if not all(type(key) is str for key in container):
                    _check_keys(container, what)
                items: Any = container.values()
            else:
                items = container
            inner += [item for item in items if isinstance(item, _CONTAINERS)]
        if not inner:
            return
        if depth == MAX_DEPTH:
            raise InputInvalid(
                what, f"nested deeper than {MAX_DEPTH} levels of arrays and objects; flatten it"
            )
        level = inner


def _check_keys(value: dict[Any, Any], what: str) -> None:
    """JSON keys are text: `1`, `1.0`, `True` and `None` become "1", "1.0", "true" and
    "null", which may be the name of another key of the same object."""
    seen: dict[str, Any] = {}
    for key in value:
        try:
            text = key if type(key) is str else _PLAIN.encode(key).strip('"')
        except (TypeError, ValueError):
            continue  # not a JSON key at all: encoding it says so
        if text in seen:
            raise InputInvalid(
                what,
                f"keys {seen[text]!r} and {key!r} are both the JSON key {text!r}, so one "
                "would be lost; give each a distinct text key",
            )
        seen[text] = key


def validation_problems(error: ValidationError) -> str:
    """A pydantic validation error on one line: `field: problem; field: problem`."""
    parts = []
    for problem in error.errors()[:3]:
        where = ".".join(str(part) for part in problem["loc"]) or "value"
        parts.append(f"{where}: {problem['msg']}")
    more = error.error_count() - 3
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
