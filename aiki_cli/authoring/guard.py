"""What user code raises is its own failure; only the engine's signals mean "stop".

A task body or a workflow may raise anything: `asyncio.CancelledError`, `SystemExit`
from `sys.exit()`, `KeyboardInterrupt`, `GeneratorExit` or a `BaseException` of its own.
None of them is the worker stopping: each fails the attempt (journaled, retried by
policy) like any `Exception`. What stops a run is the engine's own control flow (a
`Signal`) and a cancellation of the asyncio task executing it (`cancelling()`).

asyncio lets a `SystemExit` or `KeyboardInterrupt` raised in a task out of the event
loop, which would end the worker: code that runs in a task of its own is `guarded`, so
that what it raises reaches the engine as a `Raised` exception instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from ..signals import Signal

_T = TypeVar("_T")


class Raised(Exception):
    """User code raised `error`, which is not an `Exception`; carried as one."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


def stops(error: BaseException) -> bool:
    """Whether `error` is the engine stopping the code, rather than the code failing:
    a `Signal`, a cancellation of the task executing it, or Python closing a coroutine
    that no task executes any more."""
    if isinstance(error, Signal):
        return True
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        current = _current_task()
        if current is None:
            return isinstance(error, GeneratorExit)
        return isinstance(error, asyncio.CancelledError) and current.cancelling() > 0
    return False


def _current_task() -> asyncio.Task[object] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no event loop runs
        return None


def original(error: BaseException) -> BaseException:
    """What user code raised: `error` itself, or the one a `Raised` carries."""
    return error.error if isinstance(error, Raised) else error


async def guarded(code: Awaitable[_T]) -> _T:
    """Await `code`; what it raises that is neither an `Exception` nor the engine stopping
    it comes out as `Raised`."""
    try:
        return await code
    except Exception:
        raise
    except BaseException as error:
        if stops(error):
            raise
        raise Raised(error) from error
