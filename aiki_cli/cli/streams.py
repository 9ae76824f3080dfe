"""Stdout carries only what the command says (SPEC §6), whatever workflow code prints.

From the moment a command loads the workflow modules until it ends, `divert()` points
`sys.stdout` at stderr, and file descriptor 1 too when `sys.stdout` is it: a `print` in a
module, a workflow or a task in any thread, and a write to fd 1 by C code or a child
process, all land on stderr (a worker's log). The command writes its own output through
`stdout()`, the stdout it was started with.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO, cast


@dataclass
class _Diverted:
    """The command's own stdout while user output is diverted, and how to undo it."""

    kept: TextIO
    replaced: TextIO
    fd: int | None  # the descriptor pointed at stderr, put back from `kept`'s copy of it


_diverted: _Diverted | None = None


def stdout() -> TextIO:
    """Where the command's own output goes."""
    return _diverted.kept if _diverted else sys.stdout


def divert() -> None:
    """Send what user code writes to stdout to stderr until `kept()` ends; once is enough."""
    global _diverted
    if _diverted is not None:
        return
    original = sys.stdout
    if original is None:  # stdout was closed: the command's own output goes nowhere
        _diverted = _Diverted(open(os.devnull, "w"), cast(TextIO, None), None)  # noqa: SIM115
        sys.stdout = sys.stderr
        return
    original.flush()
    fd = _fileno(original)
    if fd is None:  # no descriptor of its own (a test's capture): the object is enough
        _diverted = _Diverted(original, original, None)
    else:
        saved = os.dup(fd)
        kept = open(  # noqa: SIM115 - closed by `_restore`
            saved,
            "w",
            encoding=original.encoding,
            errors=original.errors,
            buffering=1 if original.line_buffering else -1,
        )
        sys.stderr.flush()
        os.dup2(sys.stderr.fileno(), fd)
        _diverted = _Diverted(kept, original, fd)
    sys.stdout = sys.stderr


@contextmanager
def kept() -> Iterator[None]:
    """Run a command; undo what `divert()` did in it when it ends."""
    global _diverted
    try:
        yield
    finally:
        if _diverted is not None:
            _restore(_diverted)
            _diverted = None


def _restore(diverted: _Diverted) -> None:
    sys.stderr.flush()
    diverted.kept.flush()
    sys.stdout = diverted.replaced
    if diverted.fd is not None:
        os.dup2(diverted.kept.fileno(), diverted.fd)
    if diverted.kept is not diverted.replaced:
        diverted.kept.close()


def _fileno(stream: TextIO) -> int | None:
    """The descriptor `stream` writes to, if it has one."""
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return None
