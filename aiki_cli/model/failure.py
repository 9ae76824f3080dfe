"""The traceback of a user's exception as the journal keeps it: the user's frames only,
bounded in size, so `aiki status` can say where a task or a workflow failed."""

from __future__ import annotations

import traceback
from functools import cache
from pathlib import Path

LIMIT = 8000  # characters kept of a traceback: its head and its tail
HEAD = 2000
# aiki's own frames, and those of the machinery that runs a task (the event loop, the
# thread pool), say nothing about the user's code.
_AIKI = Path(__file__).parents[1]


@cache
def _machinery() -> tuple[str, ...]:
    """The folders of that machinery, asked for only when a failure is recorded (a reading
    command, which imports this module, needs no event loop)."""
    import asyncio
    import concurrent.futures

    folders = (Path(asyncio.__file__).parent, Path(concurrent.futures.__file__).parent, _AIKI)
    return tuple(f"{folder}/" for folder in folders)


def format_traceback(error: BaseException) -> str | None:
    """`error`'s traceback (with its causes) without aiki's frames, at most `LIMIT`
    characters; None when no frame of it is the user's."""
    if error.__traceback__ is None:
        return None
    formatted = traceback.TracebackException.from_exception(error)
    if not _strip(formatted, set()):
        return None
    return bound("".join(formatted.format()).rstrip("\n"))


def _strip(formatted: traceback.TracebackException, seen: set[int]) -> bool:
    """Drop the machinery's frames from `formatted` and its causes; True if a frame is left."""
    if id(formatted) in seen:
        return False
    seen.add(id(formatted))
    kept = [frame for frame in formatted.stack if not frame.filename.startswith(_machinery())]
    formatted.stack = traceback.StackSummary.from_list(kept)
    left = bool(kept)
    for cause in (formatted.__cause__, formatted.__context__):
        if cause is not None:
            left = _strip(cause, seen) or left
    return left


def bound(text: str, limit: int = LIMIT, head: int = HEAD) -> str:
    """`text` if it is at most `limit` characters; else its first lines up to `head`
    characters and its last lines, with a line saying how much was cut between them."""
    if len(text) <= limit:
        return text
    start = text.rfind("\n", 0, head) + 1 or head
    end = text.find("\n", len(text) - (limit - head)) + 1 or len(text) - (limit - head)
    return f"{text[:start]}… {end - start} characters cut …\n{text[end:]}"
