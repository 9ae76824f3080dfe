"""JSON read from text a person gave (a file, stdin, a form field): strict (no NaN, no
infinities), refused with `InvalidJSON` naming where the text came from and what is wrong."""

import json
from typing import Any

from ..errors import InvalidJSON


def parse_json(text: str, source: str) -> Any:
    """The JSON value `text` holds; `InvalidJSON` naming `source` when it holds none."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not valid JSON")

    def finite(number: str) -> float:
        value = float(number)
        if value in (float("inf"), float("-inf")):
            raise ValueError(f"{number} is too large for a JSON number")
        return value

    try:
        return json.loads(text, parse_constant=refuse, parse_float=finite)
    except json.JSONDecodeError as error:
        raise InvalidJSON(
            source, f"{error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except (ValueError, RecursionError) as error:
        raise InvalidJSON(source, str(error) or "too deeply nested") from None
