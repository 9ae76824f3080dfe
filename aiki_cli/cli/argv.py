"""Where the global options (`--store`, `--runs-dir`, `--workflows-dir`) sit on the
command line: anywhere, before or after the command's name. Read by the app (`options`)
and by the console script's front door (`door`), which must not load more than this."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import BadInput

GLOBAL_OPTIONS = ("--runs-dir", "--workflows-dir", "--store")
_GLOBALS_WITH_VALUE = tuple(option + "=" for option in GLOBAL_OPTIONS)  # --runs-dir=runs


def hoist_globals(args: Sequence[str]) -> list[str]:
    """Move the global options to the front, so they work after the command name too."""
    front, rest = split_globals(args)
    return front + rest


def split_globals(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """The global options with their values, and the other tokens, each in order."""
    front: list[str] = []
    rest: list[str] = []
    tokens = iter(args)
    for token in tokens:
        if token in GLOBAL_OPTIONS:
            value = next(tokens, None)
            if value is None:
                raise BadInput(f"Option '{token}' requires an argument.")
            front += [token, value]
        elif token.startswith(_GLOBALS_WITH_VALUE):
            front.append(token)
        else:
            rest.append(token)
    return front, rest
