"""Tasks: the units of work a workflow calls, each executed durably and memoized."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, overload

from pydantic import BaseModel

from .codec import Codec
from .naming import check_name
from .retry import RetryPolicy, never
from .threads import Threads

if TYPE_CHECKING:
    from .run import Run


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
    ) -> None:
        self.name = check_name("task", name)
        self.exec = exec
        self._is_async = inspect.iscoroutinefunction(exec)
        self.retry = retry or never()
        self.inputs = Codec(input, f"input of task {name!r}")
        self.outputs = Codec(output, f"output of task {name!r}")
        self.__doc__ = exec.__doc__

    def __repr__(self) -> str:
        return f"<task {self.name}>"

    async def start(self, run: Run, input: Any = None) -> Any:
        """Execute the task for `run`, or return its recorded result when replaying."""
        return await run._call(self, input)

    def invoke(self, value: Any, threads: Threads) -> Awaitable[Any]:
        """Call the function itself: coroutines in the loop, plain functions in a thread."""
        if self._is_async:
            return self.exec(value)  # type: ignore[no-any-return]
        return asyncio.wrap_future(threads.submit(self.name, self.exec, value))


@overload
def task(
    name: str | None = None,
    *,
    exec: Callable[[Any], Any],
    input: type[BaseModel] | None = None,
    output: type[BaseModel] | None = None,
    retry: RetryPolicy | None = None,
) -> Task: ...
@overload
def task(
    name: str | None = None,
    *,
    exec: None = None,
    input: type[BaseModel] | None = None,
    output: type[BaseModel] | None = None,
    retry: RetryPolicy | None = None,
) -> Callable[[Callable[[Any], Any]], Task]: ...
def task(
    name: str | None = None,
    *,
    exec: Callable[[Any], Any] | None = None,
    input: type[BaseModel] | None = None,
    output: type[BaseModel] | None = None,
    retry: RetryPolicy | None = None,
) -> Task | Callable[[Callable[[Any], Any]], Task]:
    """Define a task: `task(name=..., exec=fn)`, or `@task(name=...)` over a function.

    The name defaults to the function's, with dashes for underscores. `retry` (from
    `aiki_cli.retry`) says how often and when a failed attempt is tried again.
    """

    def define(fn: Callable[[Any], Any]) -> Task:
        name_ = name or fn.__name__.replace("_", "-")
        return Task(name_, fn, input=input, output=output, retry=retry)

    return define(exec) if exec is not None else define
