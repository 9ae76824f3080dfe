"""Journal lines and start records read from plain JSON as the models read them, without
pydantic (for `light`, the front door's fold): each field checked and read as its model
reads it, and `Unsure` for anything the models would read differently or refuse (a field
of another type, a timestamp in another form, a newer format), which the caller then
leaves to the app."""

from __future__ import annotations

import functools
import math
import re
from datetime import datetime
from typing import Any

from .status import RunStatus

Record = dict[str, Any]
SPEC_FORMAT = 1  # runinfo.FORMAT, which imports pydantic
# A timestamp as the models write it, which they read back and write again unchanged.
_MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.(?!000000)\d{6})?Z")
_STATUSES = frozenset(status.value for status in RunStatus)


class Unsure(Exception):
    """A record this reader does not read exactly as the models would: ask the app."""


def _moment(value: Any) -> str:
    if type(value) is str and _MOMENT.fullmatch(value):
        return value
    raise Unsure(f"not a timestamp in the models' form: {value!r}")


@functools.cache
def parsed(moment: str) -> datetime:
    return datetime.fromisoformat(moment)


def _text(value: Any) -> str:
    if type(value) is str:
        return value
    raise Unsure(f"not a string: {value!r}")


def _whole(value: Any) -> int:
    if type(value) is int:
        return value
    raise Unsure(f"not a whole number: {value!r}")


def _flag(value: Any) -> bool:
    if type(value) is bool:
        return value
    raise Unsure(f"not true or false: {value!r}")


def _fraction(value: Any) -> float:
    if type(value) in (int, float):
        try:
            number = float(value)
        except OverflowError:
            raise Unsure("a number too large") from None
        if math.isfinite(number):
            return number
    raise Unsure(f"not a number: {value!r}")


def _status(value: Any) -> str:
    if type(value) is str and value in _STATUSES:
        return value
    raise Unsure(f"not a run status: {value!r}")


def _error(value: Any) -> Record:
    """An `ErrorInfo`, all four fields, in its order."""
    if type(value) is not dict:
        raise Unsure(f"not an error: {value!r}")
    return {
        "type": _text(value.get("type")),
        "message": _text(value.get("message")),
        "task": _maybe(_text, value.get("task")),
        "traceback": _maybe(_text, value.get("traceback")),
    }


def _fork(value: Any) -> Record:
    if type(value) is not dict:
        raise Unsure(f"not a fork's origin: {value!r}")
    call = value.get("call", 1)
    return {
        "run_id": _text(value.get("run_id")),
        "task": _text(value.get("task")),
        "call": _whole(call),
    }


def _maybe(read: Any, value: Any) -> Any:
    return None if value is None else read(value)


def _any(value: Any) -> Any:
    return value


# Each entry type's fields: (name, reader, required, default).
_R, _O = True, False
_FIELDS: dict[str, tuple[tuple[str, Any, bool, Any], ...]] = {
    "status": (
        ("at", _moment, _R, None),
        ("from", _status, _R, None),
        ("to", _status, _R, None),
        ("attempt", _whole, _O, 1),
        ("reason", _text, _O, None),
        ("worker", _text, _O, None),
        ("until", _moment, _O, None),
        ("result", _any, _O, None),
        ("error", _error, _O, None),
    ),
    "task_started": (
        ("at", _moment, _R, None),
        ("task", _text, _R, None),
        ("hash", _text, _R, None),
        ("attempt", _whole, _O, 1),
    ),
    "task_completed": (
        ("at", _moment, _R, None),
        ("task", _text, _R, None),
        ("hash", _text, _R, None),
        ("attempt", _whole, _O, 1),
    ),
    "task_failed": (
        ("at", _moment, _R, None),
        ("task", _text, _R, None),
        ("hash", _text, _R, None),
        ("error", _error, _R, None),
        ("attempt", _whole, _O, 1),
        ("retry_at", _moment, _O, None),
    ),
    "recovered": (
        ("at", _moment, _R, None),
        ("count", _whole, _R, None),
        ("worker", _text, _O, None),
    ),
    "sleep_started": (
        ("at", _moment, _R, None),
        ("name", _text, _R, None),
        ("seq", _whole, _R, None),
        ("until", _moment, _R, None),
    ),
    "sleep_ended": (
        ("at", _moment, _R, None),
        ("name", _text, _R, None),
        ("seq", _whole, _R, None),
        ("woken", _flag, _O, False),
    ),
    "event_received": (
        ("at", _moment, _R, None),
        ("name", _text, _R, None),
        ("key", _text, _R, None),
        ("reference_id", _text, _O, None),
    ),
    "event_wait": (
        ("at", _moment, _R, None),
        ("name", _text, _R, None),
        ("seq", _whole, _R, None),
        ("until", _moment, _O, None),
    ),
    "event_timeout": (
        ("at", _moment, _R, None),
        ("name", _text, _R, None),
        ("seq", _whole, _R, None),
    ),
    "child_started": (
        ("at", _moment, _R, None),
        ("seq", _whole, _R, None),
        ("child", _text, _R, None),
        ("workflow", _text, _R, None),
        ("version", _text, _R, None),
    ),
    "child_ended": (
        ("at", _moment, _R, None),
        ("child", _text, _R, None),
        ("status", _status, _R, None),
        ("error", _error, _O, None),
    ),
    "progress": (
        ("at", _moment, _R, None),
        ("message", _text, _R, None),
        ("fraction", _fraction, _O, None),
    ),
}


def read_entry(data: Any) -> Record:
    """A journal line's object, checked as its model would check it: its `type` and the
    fields the fold reads, each read as the model reads it."""
    if type(data) is not dict or type(data.get("type")) is not str:
        raise Unsure("a journal line that is no entry")
    fields = _FIELDS.get(data["type"])
    if fields is None:
        raise Unsure(f"an entry of type {data['type']!r}")
    entry: Record = {"type": data["type"]}
    for name, read, required, default in fields:
        value = data.get(name)
        if value is None:
            if required or (default is not None and name in data):  # `"attempt": null`
                raise Unsure(f"a {data['type']} entry without {name}")
            entry[name] = default
        else:
            entry[name] = read(value)
    if entry["type"] == "status":
        entry["result"] = data.get("result")
    return entry


def read_spec(data: Any) -> Record:
    """`run.json`'s object, as `RunSpec` reads it."""
    if type(data) is not dict or _whole(data.get("format", SPEC_FORMAT)) != SPEC_FORMAT:
        raise Unsure("a start record of another format")
    return {
        "id": _text(data.get("id")),
        "workflow": _text(data.get("workflow")),
        "version": _text(data.get("version")),
        "input": data.get("input"),
        "created_at": _moment(data.get("created_at")),
        "idempotency_key": _maybe(_text, data.get("idempotency_key")),
        "parent_id": _maybe(_text, data.get("parent_id")),
        "not_before": _maybe(_moment, data.get("not_before")),
        "forked_from": _maybe(_fork, data.get("forked_from")),
    }
