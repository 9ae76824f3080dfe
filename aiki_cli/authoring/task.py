"""Tasks: the units of work a workflow calls, each executed durably and memoized."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol, overload

from pydantic import BaseModel

from ..errors import TaskTimeout
from ..values.codec import Codec
from ..values.duration import parse_duration
from ..values.naming import check_name
from .guard import guarded
from .retry import RetryPolicy, never
from .threads import Threads

Timeout = float | str | timedelta


class Caller(Protocol):
    """What a task is started with: the run of a workflow (`Run.call`)."""

    async def call(self, task: Task, input: Any) -> Any: ...


class Task:
    """A named function of one JSON input; `await t.start(run, input)` runs it durably."""

    def __init__(
        self,
        name: str,
        exec: Callable[[Any], Any],
        *,
        input: type[BaseModel] | None = None,
        output: type[BaseModel] | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
    ) -> None:
        self.name = check_name("task", name)
        self.exec = exec
        self._is_async = inspect.iscoroutinefunction(exec)
        self.retry = retry or never()
        self.timeout = _seconds(timeout, f"the timeout of task {name!r}")
        self.inputs = Codec(input, f"input of task {name!r}")
        self.outputs = Codec(output, f"output of task {name!r}")
        self.__doc__ = exec.__doc__

    def __repr__(self) -> str:
        return f"<task {self.name}>"

    async def start(self, run: Caller, input: Any = None) -> Any:
        """Execute the task for `run`, or return its recorded result when replaying."""
        return await run.call(self, input)

    def invoke(self, value: Any, threads: Threads) -> Awaitable[Any]:
        """Call the function itself: coroutines in the loop, plain functions in a thread.
        Past `timeout`, the attempt fails with `TaskTimeout`."""
        if self.timeout is not None:
            return self._within(self.timeout, value, threads)
        if self._is_async:
            return self.exec(value)  # type: ignore[no-any-return]
        return threads.call(self.name, self.exec, value)

    async def _within(self, timeout: float, value: Any, threads: Threads) -> Any:
        """The body's result, if it returns within `timeout`. A coroutine still running
        then is cancelled; a plain function is abandoned in its thread, which Python
        cannot stop."""
        if self._is_async:
            body: asyncio.Future[Any] = asyncio.ensure_future(guarded(self.exec(value)))
            fate = "was cancelled"
        else:
            thread = threads.submit(self.name, self.exec, value)
            body = asyncio.wrap_future(thread)
            fate = "was abandoned, still running in its thread"
        try:
            done, _ = await asyncio.wait({body}, timeout=timeout)
        finally:
            if not body.done():
                body.cancel()  # timed out, or the run is stopping
                body.add_done_callback(_ignore)
        if done:
            return body.result()
        if not self._is_async:
            threads.abandon(thread)
        raise TaskTimeout(self.name, timeout, fate)


@overload
def task(
    name: str | None = None,
    *,
    exec: Callable[[Any], Any],
    input: type[BaseModel] | None = None,
    output: type[BaseModel] | None = None,
    retry: RetryPolicy | None = None,
    timeout: Timeout | None = None,
) -> Task: ...
@overload
def task(
    name: str | None = None,
    *,
    exec: None = None,
    input: type[BaseModel] | None = None,
    output: type[BaseModel] | None = None,
    retry: RetryPolicy | None = None,
    timeout: Timeout | None = None,
) -> Callable[[Callable[[Any], Any]], Task]: ...
def task(
    name: str | None = None,
    *,
    exec: Callable[[Any], Any] | None = None,
    input: type[BaseModel] | None = None,
    output: type[BaseModel] | None = None,
    retry: RetryPolicy | None = None,
    timeout: Timeout | None = None,
) -> Task | Callable[[Callable[[Any], Any]], Task]:
    """Define a task: `task(name=..., exec=fn)`, or `@task(name=...)` over a function.

    The name defaults to the function's, with dashes for underscores. `retry` (from
    `aiki_cli.authoring.retry`) says how often and when a failed attempt is tried again. An attempt
    running longer than `timeout` (seconds, a timedelta or text like "30s") fails with
    `TaskTimeout`, and is retried by `retry` like any failure.
    """

    def define(fn: Callable[[Any], Any]) -> Task:
        name_ = name or fn.__name__.replace("_", "-")
        return Task(name_, fn, input=input, output=output, retry=retry, timeout=timeout)

    return define(exec) if exec is not None else define


def _seconds(timeout: Timeout | None, what: str) -> float | None:
    return None if timeout is None else parse_duration(timeout, what).total_seconds()


def _ignore(body: asyncio.Future[Any]) -> None:
    """Retrieve what a body left behind raised, so that asyncio does not report it."""
    if not body.cancelled():
        body.exception()
