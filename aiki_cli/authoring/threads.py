"""The threads the plain-function task bodies of one run's execution run in.

Python cannot stop a thread. When a run's execution ends while a body still runs in its
thread (the worker stopped at once, or its grace period ran out), the run must not go
back to the queue before the body returns: another worker would execute the task beside
it. `Threads` knows which bodies still run, so the worker keeps the run's claim until
they have returned, or until the process exits and takes the threads with it. A body
abandoned on purpose, past its task's timeout, no longer counts.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from typing import Any

from .guard import Raised

# How long the event loop itself waits for a plain-function body before it awaits it like
# any other future, when nothing else needs the loop (see `Threads.call`).
PATIENCE = 0.0005


class Threads:
    """Submits task bodies to `executor` and keeps count of those still running.

    `alone()` says whether the run these bodies belong to is all its worker executes."""

    def __init__(
        self, executor: Executor | None = None, alone: Callable[[], bool] = lambda: False
    ) -> None:
        self._executor = executor or _shared_pool()
        self._alone = alone
        self._lock = threading.Lock()
        self._busy: dict[Future[Any], str] = {}
        self._on_idle: Callable[[], None] | None = None

    def call(self, task: str, fn: Callable[[Any], Any], value: Any) -> Awaitable[Any]:
        """`fn(value)` in a thread, to await. Handing a result from a thread back to the
        event loop costs two wake-ups (a pipe, a turn of the loop) that dwarf a short body;
        so a run alone in its worker (nothing else to do meanwhile) first waits `PATIENCE`
        for the body, and a body done by then is returned with no hand-back at all."""
        future = self.submit(task, fn, value)
        if self._alone() and wait([future], PATIENCE).done:
            return _result(future)
        return asyncio.wrap_future(future)

    def submit(self, task: str, fn: Callable[[Any], Any], value: Any) -> Future[Any]:
        """Run `fn(value)`, the body of `task`, in a thread; what it raises that is not an
        `Exception` comes out as `Raised`."""
        future = self._executor.submit(_contained, fn, value)
        with self._lock:
            self._busy[future] = task
        future.add_done_callback(self._forget)
        return future

    def abandon(self, future: Future[Any]) -> None:
        """Stop counting the body of `future`: the run goes on without it."""
        future.cancel()  # it may not have begun
        self._forget(future)

    def running(self) -> list[str]:
        """The tasks whose bodies still run (and count), by name."""
        with self._lock:
            return sorted(self._busy.values())

    def when_idle(self, callback: Callable[[], None]) -> bool:
        """Call `callback` once no counted body runs any more, in the thread of the last
        to return; False (and no call) when none runs now."""
        with self._lock:
            if not self._busy:
                return False
            self._on_idle = callback
            return True

    def _forget(self, future: Future[Any]) -> None:
        with self._lock:
            self._busy.pop(future, None)
            callback = None if self._busy else self._on_idle
            if callback is not None:
                self._on_idle = None
        if callback is not None:
            callback()


async def _result(future: Future[Any]) -> Any:
    return future.result()


def _contained(fn: Callable[[Any], Any], value: Any) -> Any:
    """`fn(value)`, keeping a `BaseException` it raises from travelling as one: a future
    that ends with `GeneratorExit`, say, closes the coroutine awaiting it."""
    try:
        return fn(value)
    except Exception:
        raise
    except BaseException as error:
        raise Raised(error) from error


@functools.cache
def _shared_pool() -> ThreadPoolExecutor:
    """The threads of engines given no executor (a worker brings its own)."""
    return ThreadPoolExecutor(thread_name_prefix="aiki-task")
