"""Workflows and their versions: `workflow(name=...)` and `.v("1.0.0")`, and the handle
of a child run a version starts.

Several versions of one workflow live side by side; a run is pinned to the version it
started on for its whole life. A version starts runs through what it is given: a
`Launcher` (the `Client`) or a `Parent` (the `Run` of a workflow); this module names what
it needs of each, not who they are, so that both can build on it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol, TypeVar, overload, runtime_checkable

from pydantic import BaseModel

from ..values.codec import Codec
from ..values.naming import check_name, check_version
from .retry import RetryPolicy, never

# A workflow's code: an async function of its input and its `Run`.
WorkflowFn = Callable[[Any, Any], Awaitable[Any]]
Delay = float | str | timedelta
Handle = TypeVar("Handle", covariant=True)


@runtime_checkable
class Launcher(Protocol[Handle]):
    """What starts a run of a version on its own, and returns its handle: `Client`."""

    async def start(
        self,
        version: WorkflowVersion,
        input: Any = None,
        *,
        idempotency_key: str | None = None,
        delay: Delay | None = None,
    ) -> Handle: ...


@runtime_checkable
class Parent(Protocol):
    """The run of a workflow as the children it starts see it: `Run`."""

    async def start_child(self, version: WorkflowVersion, input: Any) -> ChildHandle: ...

    async def await_child(self, child_id: str) -> Any: ...


class WorkflowVersion:
    """One version of a workflow: an async function of (input, run)."""

    def __init__(
        self,
        name: str,
        version: str,
        exec: WorkflowFn,
        *,
        input: type[BaseModel] | None = None,
        output: type[BaseModel] | None = None,
        retry: RetryPolicy | None = None,
        events: dict[str, type[BaseModel]] | None = None,
    ) -> None:
        self.name = name
        self.version = check_version(version)
        self.exec = exec
        self.inputs = Codec(input, f"input of workflow {name}@{version}")
        self.outputs = Codec(output, f"result of workflow {name}@{version}")
        self.retry = retry or never()
        self.events = {
            event: Codec(model, f"data of event {event!r}")
            for event, model in (events or {}).items()
        }
        self.__doc__ = exec.__doc__

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def __repr__(self) -> str:
        return f"<workflow {self.ref}>"

    @overload
    async def start(self, target: Parent, input: Any = None) -> ChildHandle: ...
    @overload
    async def start(
        self,
        target: Launcher[Handle],
        input: Any = None,
        *,
        idempotency_key: str | None = None,
        delay: Delay | None = None,
    ) -> Handle: ...
    async def start(
        self,
        target: Parent | Launcher[Handle],
        input: Any = None,
        *,
        idempotency_key: str | None = None,
        delay: Delay | None = None,
    ) -> ChildHandle | Handle:
        """Start a run of this version and return its handle at once.

        Given a `Client`, a new run (after `delay`, if set). Given the `Run` of a workflow,
        a child run, started once however often the parent is replayed; await its
        `wait_for_completion()` for its result.
        """
        if isinstance(target, Parent):
            return await target.start_child(self, input)
        if not isinstance(target, Launcher):
            raise TypeError(f"start {self.ref} with a Client or a Run, not {type(target).__name__}")
        handle: Handle = await target.start(
            self, input, idempotency_key=idempotency_key, delay=delay
        )
        return handle


class ChildHandle:
    """A child run, as its parent workflow sees it."""

    def __init__(self, parent: Parent, run_id: str) -> None:
        self._parent = parent
        self.id = run_id

    def __repr__(self) -> str:
        return f"<child run {self.id}>"

    async def wait_for_completion(self) -> Any:
        """The child's result; the parent parks in `awaiting_child` until the child ends.
        Raises `ChildFailed` or `ChildCancelled` when it did not complete."""
        return await self._parent.await_child(self.id)


class Workflow:
    """A named business process with one or more versions."""

    def __init__(self, name: str) -> None:
        self.name = check_name("workflow", name)
        self.versions: dict[str, WorkflowVersion] = {}

    def __repr__(self) -> str:
        return f"<workflow {self.name} versions={list(self.versions)}>"

    @overload
    def v(
        self,
        version: str,
        exec: WorkflowFn,
        *,
        input: type[BaseModel] | None = None,
        output: type[BaseModel] | None = None,
        retry: RetryPolicy | None = None,
        events: dict[str, type[BaseModel]] | None = None,
    ) -> WorkflowVersion: ...
    @overload
    def v(
        self,
        version: str,
        exec: None = None,
        *,
        input: type[BaseModel] | None = None,
        output: type[BaseModel] | None = None,
        retry: RetryPolicy | None = None,
        events: dict[str, type[BaseModel]] | None = None,
    ) -> Callable[[WorkflowFn], WorkflowVersion]: ...
    def v(
        self,
        version: str,
        exec: WorkflowFn | None = None,
        *,
        input: type[BaseModel] | None = None,
        output: type[BaseModel] | None = None,
        retry: RetryPolicy | None = None,
        events: dict[str, type[BaseModel]] | None = None,
    ) -> WorkflowVersion | Callable[[WorkflowFn], WorkflowVersion]:
        """Add a version: `@wf.v("1.0.0")` over an async function, or `wf.v("1.0.0", exec=fn)`.

        `retry` retries the whole run when its code fails; `events` names pydantic models
        that validate the data of events sent to the run.
        """
        if version in self.versions:
            raise ValueError(f"workflow {self.name} already has version {version}")

        def define(fn: WorkflowFn) -> WorkflowVersion:
            defined = WorkflowVersion(
                self.name, version, fn, input=input, output=output, retry=retry, events=events
            )
            self.versions[version] = defined
            return defined

        return define(exec) if exec is not None else define


def workflow(name: str) -> Workflow:
    """Define a workflow; add its versions with `.v(...)`."""
    return Workflow(name)
