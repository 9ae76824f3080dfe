"""What commands read besides their options: JSON input (a file, stdin or text) and a
`name@version` reference, refused with `BadInput` in plain words."""

import sys
from pathlib import Path
from typing import Any

from ..errors import BadInput
from ..values.jsontext import parse_json as _parse_json
from ..values.naming import split_ref


def split_ref_or_fail(ref: str) -> tuple[str, str]:
    try:
        return split_ref(ref)
    except ValueError as error:
        raise BadInput(str(error)) from None


def read_input(
    path: str | None, text: str | None, flags: tuple[str, str] = ("--input", "--input-json")
) -> Any:
    """JSON from a file (`-` for stdin) or from text: the values of the two `flags`."""
    if path is not None and text is not None:
        raise BadInput(f"give {flags[0]} or {flags[1]}, not both")
    if text is not None:
        return _parse_json(text, flags[1])
    if path is None:
        return None
    if path == "-":
        return _parse_json(sys.stdin.read(), "standard input")
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"input file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise BadInput(f"input file {path} cannot be read: {reason}") from None
    return _parse_json(raw, path)
