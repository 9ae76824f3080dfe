"""Starting a coroutine at once, in the caller, rather than on a later turn of the event
loop; it becomes an asyncio task only if it has to wait. (Python 3.12's eager task
factory does this for every task; aiki runs on 3.11 and wants it only in two places.)

A task call that never waits (most do not, until they do I/O) then costs no loop turn
and no Task object, which is most of what an in-memory step costs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any, Generic, NamedTuple, TypeVar

_T = TypeVar("_T")


class Finished(NamedTuple, Generic[_T]):
    """A coroutine that ran to its end without waiting, and what it returned."""

    value: _T


def start(coroutine: Coroutine[Any, Any, _T]) -> Finished[_T] | asyncio.Task[_T]:
    """Run `coroutine` up to its first wait: `Finished` if it never waited, else a task
    that goes on from there. What it raises before waiting is raised here."""
    try:
        waiting_on = coroutine.send(None)
    except StopIteration as done:
        return Finished(done.value)
    return asyncio.ensure_future(_Resumed(coroutine, waiting_on))


class _Resumed(Generic[_T]):
    """A coroutine stepped once, now waiting on `waiting_on`, made awaitable again:
    awaiting it goes on as `await coroutine` would have from the start."""

    def __init__(self, coroutine: Coroutine[Any, Any, _T], waiting_on: Any) -> None:
        self._coroutine = coroutine
        self._waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, _T]:
        coroutine, waiting_on = self._coroutine, self._waiting_on
        while True:
            error: BaseException | None = None
            try:
                sent = yield waiting_on
            except BaseException as thrown:  # passed on, as `await` does
                sent, error = None, thrown
            try:
                waiting_on = coroutine.send(sent) if error is None else coroutine.throw(error)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
