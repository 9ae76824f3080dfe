"""The run context a workflow receives: its id and logger, and the durable task call.

A task call is check recorded → run → record: its content address (task name + input
hash) is looked up in the replay book; a recorded outcome is returned as it was, and
only a call with nothing recorded executes, its result journaled before the workflow
moves on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, MutableMapping
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from .canonical import Address, input_hash
from .clock import Clock
from .entry import ErrorInfo, TaskCompleted, TaskStarted
from .entry import TaskFailed as TaskFailedEntry
from .errors import DivergenceError, FailSignal, Signal, TaskFailed, describe
from .replay import Outcome, ReplayBook
from .store import Claim

if TYPE_CHECKING:
    from .task import Task

# How many event-loop turns without progress prove that no concurrent branch of the
# workflow is still about to consume a recorded result (see `Run._settle`).
_SETTLE_TURNS = 10


class Run:
    """What a workflow function gets as its second argument."""

    def __init__(
        self,
        claim: Claim,
        book: ReplayBook,
        *,
        clock: Clock,
        executor: Executor | None,
        attempt: int,
        boundary: Callable[[], None],
    ) -> None:
        self.id = claim.spec.id
        self.workflow = claim.spec.workflow
        self.version = claim.spec.version
        self.attempt = attempt
        self.logger = RunLogger(self)
        self._claim = claim
        self._book = book
        self._clock = clock
        self._executor = executor
        self._boundary = boundary
        self._in_flight: set[asyncio.Task[Outcome]] = set()
        self._closed = False

    @property
    def replaying(self) -> bool:
        """True while recorded results remain to be replayed."""
        return self._book.remaining > 0

    def __repr__(self) -> str:
        return f"<run {self.id} of {self.workflow}@{self.version}>"

    async def _call(self, task: Task, value: Any) -> Any:
        self._check_boundary()
        data = task.inputs.encode(value)
        where = Address(task.name, input_hash(data))
        outcome = await self._recorded(where)
        if outcome is None:
            self._check_boundary()
            outcome = await self._execute(task, where, data)
        if outcome.error is not None:
            raise TaskFailed(task.name, outcome.error.type, outcome.error.message)
        return task.outputs.decode(outcome.output)

    def _check_boundary(self) -> None:
        if self._closed:
            raise Signal("the run has ended")
        self._boundary()

    async def _recorded(self, where: Address) -> Outcome | None:
        """The recorded outcome at `where`; None if the call is new; a divergence otherwise."""
        outcome = self._book.take(where)
        if outcome is not None or not self._book.remaining:
            return outcome
        await self._settle()
        if self._book.remaining:
            raise FailSignal(DivergenceError(where.task, self._book.unconsumed()))
        return None

    async def _settle(self) -> None:
        """Let concurrent branches (asyncio.gather) consume their recorded results first.

        A replayed call returns without yielding to the event loop, so once the loop has
        turned a few times with nothing consumed, every branch that will consume a
        recorded result has done so, and what remains is a true divergence.
        """
        quiet = 0
        while quiet < _SETTLE_TURNS:
            before = self._book.consumed
            await asyncio.sleep(0)
            quiet = quiet + 1 if self._book.consumed == before else 0

    async def _execute(self, task: Task, where: Address, data: Any) -> Outcome:
        job = asyncio.ensure_future(self._perform(task, where, data))
        self._in_flight.add(job)
        job.add_done_callback(self._in_flight.discard)
        # Shielded: a cancelled branch does not interrupt a task that is already running.
        return await asyncio.shield(job)

    async def _perform(self, task: Task, where: Address, data: Any) -> Outcome:
        at = self._clock.now
        self._claim.append(
            TaskStarted(at=at(), task=where.task, hash=where.hash, input=data), sync=False
        )
        try:
            output = task.outputs.encode(
                await task.invoke(task.inputs.decode(data), self._executor)
            )
        except Exception as error:
            info = ErrorInfo(**describe(error))
            self._claim.append(
                TaskFailedEntry(at=at(), task=where.task, hash=where.hash, error=info)
            )
            return Outcome(error=info)
        self._claim.append(TaskCompleted(at=at(), task=where.task, hash=where.hash, output=output))
        return Outcome(output=output)

    async def close(self, grace: float | None = None) -> None:
        """End the run's code: no new task starts; tasks in flight finish (or are cancelled
        after `grace` seconds) and their results are journaled."""
        self._closed = True
        if not self._in_flight:
            return
        _, late = await asyncio.wait(set(self._in_flight), timeout=grace)
        for job in late:
            job.cancel()
        await asyncio.gather(*late, return_exceptions=True)


class RunLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """`run.logger`: tagged with the run id, and quiet while the run replays its history."""

    def __init__(self, run: Run) -> None:
        super().__init__(logging.getLogger("aiki.run"), {"run_id": run.id})
        self._run = run

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        return f"[{self._run.id}] {msg}", kwargs

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if not self._run.replaying:
            super().log(level, msg, *args, **kwargs)
