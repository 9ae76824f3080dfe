"""How the `aiki` process runs its one command, through the typer app or the front door:
the garbage collector set for the command's life (`collector`), and its end (`finish`):
its exit code, or an error turned into one line on stderr and the code SPEC §6 gives it.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from ..errors import AikiError
from . import streams, views
from .exits import INTERRUPTED, OK, USAGE, leave

GC_THRESHOLD = 10_000  # objects made and not yet freed between two collector passes


def _no_usage_error(error: Exception) -> None:
    """A command whose arguments were parsed already raises no usage error."""
    return None


@contextmanager
def collector() -> Iterator[None]:
    """The collector as a command wants it, from its start to its exit."""
    # What is loaded by now lives until the process exits: leave it out of the garbage
    # collector's passes, which would otherwise walk it again, three times over at exit
    # (a noticeable share of a short command such as `aiki status`).
    gc.freeze()
    # A busy worker makes and frees tens of objects a run; a pass every 700 more objects
    # made than freed (the default) walks its runs in flight again and again. A run holds
    # no reference cycle, so rarer passes leave nothing lying about for long.
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
    try:
        yield
    finally:
        # Python's last collection, at exit, would walk what the command loaded or made
        # since (a database driver, a worker's engine): 25-75 ms. Nothing it could free
        # needs freeing then.
        gc.freeze()


def finish(
    command: Callable[[], Any], usage: Callable[[Exception], str | None] = _no_usage_error
) -> NoReturn:
    """Run `command` with stdout its own (`streams`) and leave with its exit code (an int
    it returns, else 0); an error leaves one line on stderr and its code: a usage error's
    when `usage(error)` gives its message."""
    with streams.kept():
        try:
            code = command()
        except AikiError as error:
            _fail(error.message, error.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", INTERRUPTED)
        except Exception as error:
            message = usage(error)
            if message is not None:
                _fail(message, USAGE)
            if os.environ.get("AIKI_DEBUG"):
                raise
            _fail(f"internal error: {type(error).__name__}: {error} (AIKI_DEBUG=1 shows more)", 1)
        leave(code if isinstance(code, int) else OK)


def _fail(message: str, code: int) -> NoReturn:
    views.error_line(message)
    leave(code)
