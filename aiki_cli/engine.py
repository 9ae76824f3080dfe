"""The engine: executes one claimed run from where its journal left off.

It joins the pure pieces (journal folding, the replay book, the transition table) to the
store: it decides what the run's status becomes and journals it; it never prints.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from typing import Any

from .clock import Clock
from .entry import ErrorInfo, Recovered, StatusChanged
from .errors import (
    AikiError,
    CancelSignal,
    FailSignal,
    RecoveryLimitExceeded,
    ReleaseSignal,
    describe,
)
from .journal import summarize
from .record import RunInfo
from .replay import ReplayBook
from .run import Run
from .status import RunStatus, check_transition
from .store import Claim
from .workflow import WorkflowVersion

log = logging.getLogger("aiki.engine")

DEFAULT_MAX_RECOVERIES = 10


def transition(
    claim: Claim, clock: Clock, old: RunStatus, new: RunStatus, *, attempt: int = 1, **fields: Any
) -> RunStatus:
    """Journal a status change the transition table allows; keep the ready queue in step."""
    check_transition(claim.spec.id, old, new)
    claim.append(StatusChanged(at=clock.now(), old=old, new=new, attempt=attempt, **fields))
    if new != RunStatus.RUNNING and new != RunStatus.PENDING:
        claim.set_ready(False)
    return new


class Engine:
    def __init__(
        self,
        registry: Mapping[str, WorkflowVersion],
        *,
        clock: Clock,
        worker_id: str,
        max_recoveries: int = DEFAULT_MAX_RECOVERIES,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self.registry = registry
        self.clock = clock
        self.worker_id = worker_id
        self.max_recoveries = max_recoveries
        self.stopping = stopping

    async def execute(self, claim: Claim, executor: Executor | None = None) -> RunStatus:
        """Run the claimed run until it ends or must stop; return its new status."""
        info = summarize(claim.spec, claim.entries)
        status = info.status
        if status.terminal or status == RunStatus.PAUSED:
            claim.set_ready(False)
            return status
        if "cancel" in claim.requests():
            return self._end(claim, info, status, RunStatus.CANCELLED, reason="cancel requested")
        if status == RunStatus.RUNNING and self._recover(claim, info):
            return RunStatus.FAILED
        version = self.registry[claim.spec.ref]
        self._end(claim, info, status, RunStatus.RUNNING, worker=self.worker_id)
        run = Run(
            claim,
            ReplayBook(claim.entries),
            clock=self.clock,
            executor=executor,
            attempt=info.attempt,
            boundary=lambda: self._boundary(claim),
        )
        try:
            new, fields = await self._drive(version, run, claim.spec.input)
            await run.close()
        except asyncio.CancelledError:
            await asyncio.shield(run.close(grace=0))
            self._end(claim, info, RunStatus.RUNNING, RunStatus.PENDING, reason="worker stopped")
            raise
        return self._end(claim, info, RunStatus.RUNNING, new, **fields)

    def _end(
        self, claim: Claim, info: RunInfo, old: RunStatus, new: RunStatus, **fields: Any
    ) -> RunStatus:
        log.info("run %s: %s -> %s", claim.spec.id, old, new)
        return transition(claim, self.clock, old, new, attempt=info.attempt, **fields)

    def _boundary(self, claim: Claim) -> None:
        if self.stopping():
            raise ReleaseSignal()
        if "cancel" in claim.requests():
            raise CancelSignal()

    def _recover(self, claim: Claim, info: RunInfo) -> bool:
        """Count a takeover of a run whose worker died; True if that failed the run."""
        count = info.recoveries + 1
        claim.append(Recovered(at=self.clock.now(), count=count, worker=self.worker_id))
        log.warning("run %s: recovered after its worker died (%d)", claim.spec.id, count)
        if count <= self.max_recoveries:
            return False
        in_flight = sorted({call.name for call in info.tasks if call.status == "running"})
        error = RecoveryLimitExceeded(claim.spec.id, count, self.max_recoveries, in_flight)
        self._end(claim, info, RunStatus.RUNNING, RunStatus.FAILED, error=_error(error))
        return True

    async def _drive(
        self, version: WorkflowVersion, run: Run, data: Any
    ) -> tuple[RunStatus, dict[str, Any]]:
        """Call the workflow's code and translate how it ended into a status."""
        try:
            value = await version.exec(version.inputs.decode(data), run)
            return RunStatus.COMPLETED, {"result": version.outputs.encode(value)}
        except CancelSignal:
            return RunStatus.CANCELLED, {"reason": "cancel requested"}
        except ReleaseSignal:
            return RunStatus.PENDING, {"reason": "worker stopped"}
        except FailSignal as signal:
            return RunStatus.FAILED, {"error": _error(signal.error)}
        except Exception as error:
            log.info("run %s failed: %s", run.id, error)
            return RunStatus.FAILED, {"error": _error(error)}


def _error(error: AikiError | Exception) -> ErrorInfo:
    return ErrorInfo(**describe(error))
