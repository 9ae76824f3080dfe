"""Durations as users write them: seconds, a `timedelta`, or text such as "5m" or "1h30m"."""

from __future__ import annotations

import re
from datetime import timedelta

MAX = timedelta(days=3653)  # ten years
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: float | int | str | timedelta, what: str = "duration") -> timedelta:
    """`value` as a timedelta above zero and at most ten years; ValueError otherwise."""
    try:
        result = _as_timedelta(value, what)
    except OverflowError:
        raise ValueError(f"{what} must be at most ten years, not {value!r}") from None
    if not timedelta(0) < result <= MAX:
        raise ValueError(f"{what} must be above zero and at most ten years, not {value!r}")
    return result


def _as_timedelta(value: float | int | str | timedelta, what: str) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"{what} must be seconds, a timedelta or text like '5m', not a bool")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, str):
        return _parse_text(value.strip().lower(), what)
    raise ValueError(f"{what} must be seconds, a timedelta or text like '5m'")


def _parse_text(text: str, what: str) -> timedelta:
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return timedelta(seconds=float(text))
    parts = _PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"{what} {text!r} is not like '30s', '5m', '1h30m', '2d' or '1w'")
    return timedelta(seconds=sum(float(number) * _UNIT[unit] for number, unit in parts))
