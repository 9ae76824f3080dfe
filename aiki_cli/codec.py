"""Inputs and results as JSON values, validated by an optional pydantic model.

A value crosses the journal as JSON; code sees the same value on its first execution
and on every replay, because both come out of `decode(encode(value))`.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import InputInvalid


class Codec:
    def __init__(self, model: type[BaseModel] | None, what: str) -> None:
        self.model = model
        self.what = what

    def encode(self, value: Any) -> Any:
        """`value` as a JSON value, validated; `InputInvalid` if it does not fit."""
        if self.model is None:
            try:
                text = json.dumps(value, allow_nan=False, ensure_ascii=False)
                text.encode()  # refuses lone surrogates, which no file can hold as UTF-8
                return json.loads(text)
            except (TypeError, ValueError) as error:
                raise InputInvalid(self.what, f"not a JSON value ({error})") from error
        model_value = value if isinstance(value, self.model) else self.decode(value)
        return model_value.model_dump(mode="json")

    def decode(self, data: Any) -> Any:
        """The value code receives: a model instance when there is a model."""
        if self.model is None:
            return data
        try:
            return self.model.model_validate(data)
        except ValidationError as error:
            raise InputInvalid(self.what, summarize(error)) from error


def summarize(error: ValidationError) -> str:
    """A pydantic validation error on one line: `field: problem; field: problem`."""
    parts = []
    for problem in error.errors()[:3]:
        where = ".".join(str(part) for part in problem["loc"]) or "value"
        parts.append(f"{where}: {problem['msg']}")
    more = error.error_count() - 3
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
