"""Run handles: what starting a run returns, and the way to follow it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .record import RunInfo

if TYPE_CHECKING:
    from .client import Client
    from .run import Run
    from .workflow import WorkflowVersion


class RunHandle:
    def __init__(self, client: Client, run_id: str, version: WorkflowVersion | None = None):
        self.client = client
        self.id = run_id
        self.version = version  # known when started here: event data is validated by it

    def __repr__(self) -> str:
        return f"<run handle {self.id}>"

    async def get_status(self) -> RunInfo:
        """The run's current state (`.status`, `.result`, `.error`, `.tasks`, …)."""
        return await self.client.get(self.id)

    async def wait_for_completion(self, timeout: float | None = None) -> Any:
        """The run's result once it completes; `RunFailed`, `RunCancelled` or `WaitTimeout`."""
        info = await self.client.wait(self.id, timeout=timeout)
        info.raise_for_outcome()
        return info.result

    async def cancel(self) -> RunInfo:
        """Cancel the run (at its next task boundary if it is executing)."""
        return await self.client.cancel(self.id)

    async def send(self, event: str, data: Any = None, *, reference_id: str | None = None) -> bool:
        """Send an event to the run; False when `reference_id` was sent before."""
        return await self.client.send(
            self.id, event, data, reference_id=reference_id, version=self.version
        )


class ChildHandle:
    """A child run, as its parent workflow sees it."""

    def __init__(self, parent: Run, run_id: str) -> None:
        self._parent = parent
        self.id = run_id

    def __repr__(self) -> str:
        return f"<child run {self.id}>"

    async def wait_for_completion(self) -> Any:
        """The child's result; the parent parks in `awaiting_child` until the child ends.
        Raises `ChildFailed` or `ChildCancelled` when it did not complete."""
        return await self._parent._await_child(self.id)
