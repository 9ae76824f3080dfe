"""Strict JSON (no NaN, no infinities): text a person gave (a file, stdin, a form field),
refused with `InvalidJSON` naming where it came from and what is wrong; and the stored
records the front door reads without the models (`store/files/light.py`)."""

import json
from typing import Any

from ..errors import InvalidJSON


def strict_loads(text: str | bytes) -> Any:
    """`json.loads`, refusing NaN and infinities (which JSON has not) with `ValueError`."""
    return json.loads(text, parse_constant=_refuse, parse_float=_finite)


def _refuse(constant: str) -> Any:
    raise ValueError(f"{constant} is not valid JSON")


def _finite(number: str) -> float:
    value = float(number)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{number} is too large for a JSON number")
    return value


def parse_json(text: str, source: str) -> Any:
    """The JSON value `text` holds; `InvalidJSON` naming `source` when it holds none."""
    try:
        return strict_loads(text)
    except json.JSONDecodeError as error:
        raise InvalidJSON(
            source, f"{error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except (ValueError, RecursionError) as error:
        raise InvalidJSON(source, str(error) or "too deeply nested") from None
