"""The threads the plain-function task bodies of one run's execution run in.

Python cannot stop a thread. When a run's execution ends while a body still runs in its
thread (the worker stopped at once, or its grace period ran out), the run must not go
back to the queue before the body returns: another worker would execute the task beside
it. `Threads` knows which bodies still run, so the worker keeps the run's claim until
they have returned, or until the process exits and takes the threads with it. A body
abandoned on purpose, past its task's timeout, no longer counts.

A run alone in its worker hands its bodies to the worker's `Relay`: one long-lived
thread, woken by releasing a lock, where an executor's hand-off costs a queue, a future's
condition and a set of waiters on each side (in-process, a plain-function step took
twice as long through the executor).
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

Job = tuple[Callable[[Any], Any], Any, Future[Any], threading.Lock]


class Relay:
    """One thread that runs one body at a time, handed over by releasing a lock; a
    worker's, for the bodies of a run alone in it. Started at its first body; `close`
    lets it end once it has returned what it was given (like an executor's threads, it
    is not a daemon: a body still running holds up the interpreter's exit)."""

    def __init__(self, name: str = "aiki-relay") -> None:
        self._name = name
        self._go = threading.Lock()
        self._go.acquire()  # released to hand over a job (or None: end)
        self._state = threading.Lock()  # guards the three below
        self._job: Job | None = None
        self._idle = True
        self._closed = False
        self._thread: threading.Thread | None = None

    def take(self, job: Job) -> bool:
        """Run `job`'s body in the thread, setting its future, then releasing its lock;
        False (nothing done) while an earlier body still runs, or once closed."""
        with self._state:
            if not self._idle or self._closed:
                return False
            self._idle, self._job = False, job
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name=self._name)
                self._thread.start()
        self._go.release()
        return True

    def close(self) -> None:
        """End the thread: now if it waits, else once its body has returned."""
        with self._state:
            self._closed = True
            waiting = self._idle and self._thread is not None
            self._idle = False  # takes nothing more
        if waiting:
            self._go.release()  # with no job: the thread ends

    def _serve(self) -> None:
        while True:
            self._go.acquire()
            with self._state:
                job, self._job = self._job, None
            if job is None:
                return
            fn, value, future, done = job
            outcome = _outcome(future, fn, value)
            with self._state:  # free before the caller wakes: its next body may come here
                self._idle, ending = not self._closed, self._closed
            _settle(future, outcome)
            done.release()
            if ending:
                return


class Threads:
    """Submits task bodies to `executor` (or, for a run alone, `relay`) and keeps count
    of those still running.

    `alone()` says whether the run these bodies belong to is all its worker executes."""

    def __init__(
        self,
        executor: Executor | None = None,
        alone: Callable[[], bool] = lambda: False,
        relay: Relay | None = None,
    ) -> None:
        self._executor = executor or _shared_pool()
        self._alone = alone
        self._relay = relay
        self._lock = threading.Lock()
        self._busy: dict[Future[Any], str] = {}
        self._on_idle: Callable[[], None] | None = None

    def call(self, task: str, fn: Callable[[Any], Any], value: Any) -> Awaitable[Any]:
        """`fn(value)` in a thread, to await. Handing a result from a thread back to the
        event loop costs two wake-ups (a pipe, a turn of the loop) that dwarf a short body;
        so a run alone in its worker (nothing else to do meanwhile) first waits `PATIENCE`
        for the body, and a body done by then is returned with no hand-back at all."""
        if self._alone():
            relayed = self._relayed(task, fn, value)
            if relayed is not None:
                return relayed
            future = self.submit(task, fn, value)
            if wait([future], PATIENCE).done:
                return _result(future)
            return asyncio.wrap_future(future)
        return asyncio.wrap_future(self.submit(task, fn, value))

    def _relayed(self, task: str, fn: Callable[[Any], Any], value: Any) -> Awaitable[Any] | None:
        """`fn(value)` in the relay's thread, waited for `PATIENCE` by the calling thread on
        a lock of its own; None when there is no relay, or it is busy."""
        if self._relay is None:
            return None
        future: Future[Any] = Future()
        done = threading.Lock()
        done.acquire()
        if not self._relay.take((fn, value, future, done)):
            return None
        self._count(future, task)
        if done.acquire(timeout=PATIENCE):
            return _result(future)
        return asyncio.wrap_future(future)

    def submit(self, task: str, fn: Callable[[Any], Any], value: Any) -> Future[Any]:
        """Run `fn(value)`, the body of `task`, in a thread; what it raises that is not an
        `Exception` comes out as `Raised`."""
        future = self._executor.submit(_contained, fn, value)
        self._count(future, task)
        return future

    def _count(self, future: Future[Any], task: str) -> None:
        with self._lock:
            self._busy[future] = task
        future.add_done_callback(self._forget)

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


def _outcome(future: Future[Any], fn: Callable[[Any], Any], value: Any) -> tuple[bool, Any]:
    """(True, what `fn(value)` returned) or (False, what it raised); nothing is run for a
    future cancelled before it began."""
    if not future.set_running_or_notify_cancel():
        return False, None
    try:
        return True, _contained(fn, value)
    except Exception as error:
        return False, error


def _settle(future: Future[Any], outcome: tuple[bool, Any]) -> None:
    returned, value = outcome
    if future.cancelled():
        return
    if returned:
        future.set_result(value)
    else:
        future.set_exception(value)


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


class Pool:
    """A worker's threads for task bodies: an executor's, and a relay for the bodies of a
    run alone in the worker."""

    def __init__(self, size: int) -> None:
        self.executor = ThreadPoolExecutor(size, thread_name_prefix="aiki-task")
        self.relay = Relay()

    def threads(self, alone: Callable[[], bool]) -> Threads:
        """The threads of one run's execution; `alone()` says whether it is all the
        worker executes."""
        return Threads(self.executor, alone, self.relay)

    def close(self) -> None:
        """Stop taking bodies; those still running go on in their threads."""
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.relay.close()
