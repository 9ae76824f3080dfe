"""The engine: executes one claimed run from where its journal left off.

It joins the pure pieces (journal folding, the replay book, the transition table) to the
store: it delivers the run's mail, acts on requests, runs the workflow's code until it
ends or every branch of it waits, and journals what the run's status becomes. It never
prints.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from ..authoring import eager
from ..authoring.guard import guarded, original
from ..authoring.run import Run
from ..authoring.threads import Threads
from ..authoring.workflow import WorkflowVersion
from ..errors import RecoveryLimitExceeded
from ..model.entry import Entry, ErrorInfo, EventReceived, Recovered, StatusChanged
from ..model.journal import last_status, summarize
from ..model.mail import STOPS
from ..model.runinfo import RunInfo
from ..model.status import RunStatus
from ..model.waiting import WORKFLOW_RETRY
from ..signals import (
    CancelSignal,
    FailSignal,
    PauseSignal,
    ReleaseSignal,
    StorageFailed,
    SuspendSignal,
)
from ..store import Claim, Request, Store
from ..store.group_commit import GroupCommit, flush
from ..values.clock import Clock, set_back
from . import transitions
from .transitions import transition, transition_unless

log = logging.getLogger("aiki.engine")

DEFAULT_MAX_RECOVERIES = 10
# The request a run heeds once its code is done (`STOPS` stop it at a task boundary).
_CANCEL: tuple[Request, ...] = ("cancel",)
# The message of the cancellation with which a worker hands a run back to the queue. Any
# other cancellation (the process is going down for some other reason) leaves the run
# `running`, as a death would: whoever takes it over counts a recovery.
RELEASE = "aiki: the worker hands the run back"

Outcome = tuple[RunStatus, dict[str, Any]]


class Engine:
    def __init__(
        self,
        registry: Mapping[str, WorkflowVersion],
        store: Store,
        *,
        clock: Clock,
        worker_id: str,
        max_recoveries: int = DEFAULT_MAX_RECOVERIES,
        stopping: Callable[[], bool] = lambda: False,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.registry = registry
        self.store = store
        self.clock = clock
        self.worker_id = worker_id
        self.max_recoveries = max_recoveries
        self.stopping = stopping
        self.draw = draw

    async def execute(
        self,
        claim: Claim,
        threads: Threads | None = None,
        commit: GroupCommit | None = None,
        ended: Callable[[], None] = lambda: None,
    ) -> RunStatus:
        """Run the claimed run until it ends, parks or must stop; return its new status.
        Plain-function tasks run in `threads`; the journal is flushed through `commit`.
        `ended()` is called once the run's code is done, when only the sync of its last
        entries and the steps after it remain."""
        self._deliver(claim)
        info = summarize(claim.spec, claim.entries)
        settled = self._settle_requests(claim, info)
        if settled is not None:
            return settled
        if info.status == RunStatus.RUNNING and self._recover(claim, info):
            return RunStatus.FAILED
        version = self.registry[claim.spec.ref]
        attempt = info.attempt + (1 if workflow_retry(claim.entries) is not None else 0)
        self._end(claim, info.status, RunStatus.RUNNING, attempt, worker=self.worker_id)
        if info.due_at is not None or info.status == RunStatus.RUNNING:
            claim.set_timer(None)  # running: its worker may have died before this
        run = Run(
            claim,
            self.store,
            clock=self.clock,
            threads=threads or Threads(),
            commit=commit,
            attempt=attempt,
            boundary=lambda found: self._boundary(claim, found),
            events=version.events,
            draw=self.draw,
        )
        try:
            new, fields = await self._drive(version, run, claim)
            await run.close()
        except asyncio.CancelledError as stop:
            await asyncio.shield(run.close(grace=0))
            if stop.args == (RELEASE,):
                self._end(
                    claim, RunStatus.RUNNING, RunStatus.PENDING, attempt, reason="worker stopped"
                )
            raise
        except StorageFailed as failure:
            # The journal cannot be written: stop, leaving the run running for a retry.
            await asyncio.shield(run.close(grace=0))
            raise failure.error from failure.error.__cause__
        new = self._end_unless_cancelled(claim, new, attempt, **fields)
        ended()
        await flush(claim, commit)
        self._after(claim, new, fields.get("until"))
        return new

    def _deliver(self, claim: Claim) -> None:
        """Journal the events in the run's inbox (each once), then clear the inbox."""
        inbox = claim.inbox
        seen = {e.key for e in claim.entries if isinstance(e, EventReceived)} if inbox else set()
        for mail in inbox:
            if mail.kind == "event" and mail.key not in seen:
                claim.append(
                    EventReceived(
                        at=self.clock.now(),
                        name=mail.name,
                        key=mail.key,
                        data=mail.data,
                        reference_id=mail.reference_id,
                    )
                )
            claim.ack(mail)

    def _settle_requests(self, claim: Claim, info: RunInfo) -> RunStatus | None:
        """Act on what needs no code: ended runs, requests, a start that is not due yet.
        Returns the run's status when there is nothing to execute."""
        status, requests = info.status, claim.requested
        if status.terminal:
            # Whoever ended it may have died before its parent or children heard.
            claim.set_timer(None)
            transitions.finish(self.store, claim, self.clock, status)
            return status
        if status == RunStatus.PAUSED:
            transitions.paused(claim)  # whoever paused it may have died midway
            return status
        if "cancel" in requests:
            return self._cancel(claim, status, info.attempt)
        if "pause" in requests:
            self._end(claim, status, RunStatus.PAUSED, info.attempt, reason="paused")
            transitions.paused(claim)  # the request goes after the pause is journaled
            return RunStatus.PAUSED
        if "wake" in requests and status != RunStatus.SLEEPING:
            claim.clear_request("wake")  # the sleep it was meant for has ended
        not_before, now = claim.spec.not_before, self.clock.now()
        if (
            status == RunStatus.PENDING
            and not_before is not None
            and not_before > now
            and not set_back(claim.spec.created_at, now)
        ):
            _park(claim, not_before, self.clock)
            return status
        retry = workflow_retry(claim.entries)
        if (
            retry is not None
            and retry.until is not None
            and retry.until > now
            and not set_back(retry.at, now)
        ):
            # Mail or a resume queued the run early; its retry waits.
            _park(claim, retry.until, self.clock)
            return status
        return None

    def _end(
        self, claim: Claim, old: RunStatus, new: RunStatus, attempt: int, **fields: Any
    ) -> RunStatus:
        log.info("run %s: %s -> %s", claim.spec.id, old, new)
        return transition(claim, self.clock, old, new, attempt=attempt, **fields)

    def _end_unless_cancelled(
        self, claim: Claim, new: RunStatus, attempt: int, **fields: Any
    ) -> RunStatus:
        """Journal how the run's code ended, unless a cancel landed during its last task:
        then the run records the cancel (SPEC §3). The look goes with the append."""
        if new not in (RunStatus.PENDING, RunStatus.CANCELLED):
            old = RunStatus.RUNNING
            if not transition_unless(
                _CANCEL, claim, self.clock, old, new, attempt=attempt, **fields
            ):
                log.info("run %s: %s -> %s", claim.spec.id, old, new)
                return new
            new, fields = RunStatus.CANCELLED, {"reason": "cancel requested"}
        return self._end(claim, RunStatus.RUNNING, new, attempt, **fields)

    def _after(self, claim: Claim, new: RunStatus, until: datetime | None) -> None:
        """Keep timers, the queue, the parent and the children in step with `new`."""
        claim.flush()
        if new == RunStatus.PAUSED:
            transitions.paused(claim)
        elif new.parked:
            _park(claim, until, self.clock)
        if new.terminal:
            transitions.finish(self.store, claim, self.clock, new)

    def _cancel(self, claim: Claim, status: RunStatus, attempt: int) -> RunStatus:
        self._end(claim, status, RunStatus.CANCELLED, attempt, reason="cancel requested")
        claim.set_timer(None)
        self._after(claim, RunStatus.CANCELLED, None)
        return RunStatus.CANCELLED

    def _boundary(self, claim: Claim, found: frozenset[str] | None) -> None:
        """Stop the run's code for a stopping worker, a cancel or a pause: the requests
        `found` by a look made with the step, else looked for here."""
        if self.stopping():
            raise ReleaseSignal()
        requests = claim.requests(STOPS) if found is None else found
        if "cancel" in requests:
            raise CancelSignal()
        if "pause" in requests:
            raise PauseSignal()

    def _recover(self, claim: Claim, info: RunInfo) -> bool:
        """Count a takeover of a run whose worker died; True if that failed the run."""
        last = last_status(claim.entries)
        if last is not None and last.worker == self.worker_id:
            return False  # this worker's own execution broke (a full disk, say): nobody died
        count = info.recoveries + 1
        claim.append(Recovered(at=self.clock.now(), count=count, worker=self.worker_id))
        log.warning("run %s: recovered after its worker died (%d)", claim.spec.id, count)
        if count <= self.max_recoveries:
            return False
        in_flight = sorted({call.name for call in info.tasks if call.status == "running"})
        error = RecoveryLimitExceeded(claim.spec.id, count, self.max_recoveries, in_flight)
        claim.set_timer(None)  # its worker may have died before clearing it
        self._end(
            claim, RunStatus.RUNNING, RunStatus.FAILED, info.attempt, error=ErrorInfo.of(error)
        )
        self._after(claim, RunStatus.FAILED, None)
        return True

    async def _drive(self, version: WorkflowVersion, run: Run, claim: Claim) -> Outcome:
        """Call the workflow's code and translate how it ended into a status."""
        try:
            code = version.exec(version.inputs.decode(claim.spec.input), run)
            value = await _watch(run, guarded(code))
            return RunStatus.COMPLETED, {"result": version.outputs.encode(value)}
        except SuspendSignal:
            status, until = run.parked()
            return status, {"until": until}
        except CancelSignal:
            return RunStatus.CANCELLED, {"reason": "cancel requested"}
        except PauseSignal:  # its request is cleared once the pause is journaled
            return RunStatus.PAUSED, {"reason": "paused"}
        except ReleaseSignal:
            return RunStatus.PENDING, {"reason": "worker stopped"}
        except FailSignal as signal:
            return RunStatus.FAILED, {"error": ErrorInfo.of(signal.error)}
        except Exception as raised:
            error = original(raised)  # whatever it is, the workflow failed (see guard.py)
            log.info("run %s failed: %s", run.id, error)
            return self._failed(version, run.attempt, error)

    def _failed(self, version: WorkflowVersion, attempt: int, error: BaseException) -> Outcome:
        """Failed for good, or (by the version's retry policy) to be tried again later."""
        delay = version.retry.delay_for(error, attempt, self.draw)
        if delay is None:
            return RunStatus.FAILED, {"error": ErrorInfo.of(error)}
        until = self.clock.now() + timedelta(seconds=delay)
        return RunStatus.AWAITING_RETRY, {
            "until": until,
            "error": ErrorInfo.of(error),
            "reason": WORKFLOW_RETRY,
        }


def _park(claim: Claim, due: datetime | None, clock: Clock) -> None:
    """Park the run in the store: out of the queue until `due` (or until something wakes
    it). The timer first, so a worker dying in between leaves the run queued; then out of
    the queue, unless a request or mail arrived meanwhile, so no wake-up is lost. A timer
    that came due meanwhile may have been fired already, while the run was still queued,
    and cleared: then the run goes back in the queue."""
    claim.set_timer(due)
    claim.leave_queue()
    if due is not None and due <= clock.now():
        claim.set_ready(True)


def workflow_retry(entries: list[Entry]) -> StatusChanged | None:
    """The park that awaits the next attempt of the whole workflow, if the run has not
    run since (a pause and resume in between keep it)."""
    waiting = None
    for entry in entries:
        if isinstance(entry, StatusChanged):
            if entry.new == RunStatus.RUNNING:
                waiting = None
            elif entry.reason == WORKFLOW_RETRY:
                waiting = entry
    return waiting


async def _watch(run: Run, code: Any) -> Any:
    """Await the workflow's code; park the run once every branch of it waits."""
    body = eager.start(code)
    if isinstance(body, eager.Finished):
        return body.value  # it never waited: nothing to watch
    try:
        while not body.done():
            changed = asyncio.ensure_future(run.changed.wait())
            await asyncio.wait({body, changed}, return_when=asyncio.FIRST_COMPLETED)
            changed.cancel()
            if not body.done():
                run.changed.clear()
                if await run.blocked():
                    run.suspend()
        return body.result()
    finally:
        if not body.done():
            body.cancel()
            await asyncio.gather(body, return_exceptions=True)
