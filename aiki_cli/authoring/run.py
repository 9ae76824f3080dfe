"""The run context a workflow receives: its id and logger, and the durable calls —
tasks, sleeps, event waits and child runs.

A task call is check recorded → run → record: its content address (task name + input
hash) is looked up in the replay book; a recorded outcome is returned as it was, and
only a call with nothing recorded executes, its result journaled before the workflow
moves on (and synced before the next body or child starts). An attempt starts at once
in the calling branch and becomes an asyncio task only if it has to wait. Sleeps, event
waits and children are matched by name and occurrence.

When a call must wait (a sleep, an event, a child, a retry's delay), it registers a park
and waits. The engine parks the whole run once every branch of it waits and no task is
in flight; the run then holds no worker slot and is replayed to the same point when its
due time, event or child arrives.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, NoReturn

from ..errors import (
    ChildCancelled,
    ChildFailed,
    DivergenceError,
    StoreUnwritable,
    TaskFailed,
    TaskTimeout,
)
from ..model.entry import (
    ChildEnded,
    ChildStarted,
    Entry,
    ErrorInfo,
    EventTimedOut,
    EventWaited,
    SleepEnded,
    SleepStarted,
    TaskCompleted,
    TaskStarted,
)
from ..model.entry import TaskFailed as TaskFailedEntry
from ..model.journal import summarize
from ..model.mail import STOPS
from ..model.runinfo import new_spec
from ..model.status import RunStatus
from ..signals import FailSignal, Signal, StorageFailed, SuspendSignal
from ..store import Claim, Store
from ..store.group_commit import GroupCommit, alone, flush
from ..values.canonical import Address
from ..values.clock import Clock, set_back
from ..values.codec import Codec
from ..values.duration import parse_duration
from . import eager
from .guard import original, stops
from .history import EventResult, History
from .progress import ProgressBook
from .replay import Outcome, ReplayBook
from .run_logger import RunLogger
from .task import Task
from .threads import Threads
from .workflow import ChildHandle, WorkflowVersion

log = logging.getLogger("aiki.task")

# How many event-loop turns without progress prove that no concurrent branch of the
# workflow is still about to consume a recorded result or to ask to wait.
_SETTLE_TURNS = 10
# After this many tasks in a row that finished without waiting, the loop gets a turn.
_EAGER_TURN = 32
# A task retry due this soon waits in the worker; a later one parks the run.
SHORT_WAIT = timedelta(seconds=1)


class Run:
    """What a workflow function gets as its second argument.

    Its surface: `id`, `workflow`, `version`, `attempt`, `logger`, `replaying`, `sleep`,
    `wait_for_event`, `progress`, and the calls behind `task.start(run, …)`,
    `version.start(run, …)` and `ChildHandle.wait_for_completion()`: `call`,
    `start_child` and `await_child`.
    `changed`, `blocked`, `suspend`, `parked` and `close` are the engine's.
    """

    def __init__(
        self,
        claim: Claim,
        store: Store,
        *,
        clock: Clock,
        threads: Threads,
        attempt: int,
        commit: GroupCommit | None = None,
        boundary: Callable[[frozenset[str] | None], None],
        events: Mapping[str, Codec] | None = None,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.id = claim.spec.id
        self.workflow = claim.spec.workflow
        self.version = claim.spec.version
        self.attempt = attempt
        self._claim = claim
        self._store = store
        self._clock = clock
        self._threads = threads
        self._commit = commit
        self._boundary = boundary
        self._event_codecs = events or {}
        self._draw = draw
        self._book = ReplayBook(claim.entries)
        self.logger = RunLogger(self.id, self._book)
        self._history = History(claim.entries)
        self._said = ProgressBook(claim.entries)
        self._occurrences: Counter[tuple[str, str]] = Counter()
        self._in_flight: set[asyncio.Task[Outcome | None]] = set()
        self._eager = 0
        self._parks: list[tuple[RunStatus, datetime | None]] = []
        self._parking: asyncio.Future[None] | None = None
        self.changed = asyncio.Event()
        self._closed = False

    @property
    def replaying(self) -> bool:
        """True while recorded results remain to be replayed."""
        return self._book.replaying

    def __repr__(self) -> str:
        return f"<run {self.id} of {self.workflow}@{self.version}>"

    # -- tasks ----------------------------------------------------------------------

    async def call(self, task: Task, input: Any = None) -> Any:
        """Execute `task` on `input` durably, or return its recorded outcome when replaying
        (`task.start(run, input)` calls this)."""
        self._check_boundary(frozenset())  # no look: a new call's comes with its start
        data, digest = task.inputs.encode_hashed(input)
        where = Address(task.name, digest)
        outcome = await self._recorded(where)
        while outcome is None:
            retry = self._book.retry(where)
            if retry is not None:
                await self._until(retry.due(self._clock.now()), RunStatus.AWAITING_RETRY)
                self._check_boundary()
            attempt = retry.failures + 1 if retry else 1
            outcome = await self._execute(task, where, data, attempt)
        if outcome.error is not None:
            raise TaskFailed(task.name, outcome.error.type, outcome.error.message)
        return task.outputs.decode(outcome.output)

    def _check_boundary(self, found: frozenset[str] | None = None) -> None:
        """Stop if the run must (`found`: what the step's own look found; None: look now)."""
        if self._closed:
            raise Signal("the run has ended")
        self._boundary(found)

    def _record(self, *entries: Entry, sync: bool = True) -> None:
        """Journal entries (with `sync`, durably by the next `_flush`). A store that cannot
        take them (a full disk) stops the run past any `except` in the workflow: the
        machine failed, not the workflow."""
        try:
            self._claim.append(*entries, sync=sync)
        except StoreUnwritable as error:
            raise StorageFailed(error) from error

    def _start(self, started: TaskStarted) -> frozenset[str]:
        """Journal a task's start unless a cancel or pause waits (a lone run flushes with it)."""
        try:
            return self._claim.append_unless(STOPS, started, flush=alone(self._commit))
        except StoreUnwritable as error:
            raise StorageFailed(error) from error

    async def _flush(self) -> None:
        """Make what the run journaled durable: due before anything that acts outside the
        run's code (a task's body, a child's start) happens."""
        try:
            await flush(self._claim, self._commit)
        except StoreUnwritable as error:
            raise StorageFailed(error) from error

    async def _recorded(self, where: Address) -> Outcome | None:
        """The recorded outcome at `where`; None if the call is new; a divergence otherwise."""
        outcome = self._book.take(where)
        if outcome is not None or not self._book.remaining:
            return outcome
        await self._settle()
        if self._book.remaining:
            raise FailSignal(DivergenceError(where.task, self._book.unconsumed()))
        self._check_boundary()  # other branches ran meanwhile
        return None

    async def _settle(self) -> None:
        """Let concurrent branches (asyncio.gather) take their turns until nothing changes.

        A replayed call returns without yielding to the event loop, so once the loop has
        turned a few times with no change, every branch that will consume a recorded
        result or ask to wait has done so.
        """
        quiet = 0
        while quiet < _SETTLE_TURNS:
            before = self._progress()
            await asyncio.sleep(0)
            quiet = quiet + 1 if self._progress() == before else 0

    def _progress(self) -> tuple[int, int, int]:
        return self._book.consumed, len(self._parks), len(self._in_flight)

    async def _execute(self, task: Task, where: Address, data: Any, attempt: int) -> Outcome | None:
        """Run one attempt at once, in this branch; only an attempt that has to wait (for
        I/O, a thread, a timer) becomes a task of its own, so that cancelling the branch
        cannot interrupt it. A task that never waits costs no turn of the event loop."""
        job = eager.start(self._perform(task, where, data, attempt))
        if isinstance(job, eager.Finished):
            # Now and then let the loop turn: a long row of tasks that never wait must
            # not keep the worker's other runs (and its signals) waiting.
            self._eager += 1
            if self._eager % _EAGER_TURN == 0:
                await asyncio.sleep(0)
            outcome: Outcome | None = job.value
            return outcome
        self._in_flight.add(job)
        job.add_done_callback(self._job_done)
        # Shielded: a cancelled branch does not interrupt a task that is already running.
        return await asyncio.shield(job)

    def _job_done(self, job: asyncio.Task[Outcome | None]) -> None:
        self._in_flight.discard(job)
        if self._parks:  # the last task in flight may leave only waiting branches
            self.changed.set()

    async def _perform(self, task: Task, where: Address, data: Any, attempt: int) -> Outcome | None:
        """One attempt: its outcome, or None when it failed and will be tried again."""
        at = self._clock.now
        found = self._start(
            TaskStarted(at=at(), task=where.task, hash=where.hash, input=data, attempt=attempt)
        )
        if found:
            self._check_boundary(found)  # a cancel or pause came first: not started
        await self._flush()  # the results before it, which it may depend on
        try:
            output = task.outputs.encode(await task.invoke(task.inputs.decode(data), self._threads))
        except BaseException as raised:
            if stops(raised):
                raise
            error = original(raised)  # whatever it is, the attempt failed (see guard.py)
            if isinstance(error, TaskTimeout):
                log.warning("run %s: %s", self.id, error)
            info = ErrorInfo.of(error)
            delay = task.retry.delay_for(error, attempt, self._draw)
            retry_at = None if delay is None else at() + timedelta(seconds=delay)
            self._record(
                TaskFailedEntry(
                    at=at(),
                    task=where.task,
                    hash=where.hash,
                    error=info,
                    attempt=attempt,
                    retry_at=retry_at,
                )
            )
            if retry_at is not None:
                self._book.note_retry(where, retry_at)
                return None
            self._book.settled(where)
            return Outcome(error=info)
        self._record(
            TaskCompleted(at=at(), task=where.task, hash=where.hash, output=output, attempt=attempt)
        )
        self._book.settled(where)
        return Outcome(output=output)

    def progress(self, message: str, fraction: float | None = None) -> None:
        """Say how far the run got (`fraction`: 0 to 1), for `status` and followers: a
        small journal entry, not a call; a replayed run does not journal it again."""
        entry = self._said.say(self._clock.now(), message, fraction)
        if entry is not None and not self._closed:
            self._record(entry, sync=False)  # rides with the next sync: no fsync of its own

    # -- time -----------------------------------------------------------------------

    async def sleep(self, name: str, duration: float | str | timedelta) -> bool:
        """Sleep durably: seconds, a timedelta or text like "5m" (at most ten years).

        The run holds no worker slot meanwhile and survives any restart. Sleeps are
        matched by name and occurrence on replay; if the code's duration grew since the
        sleep began, the run sleeps only the difference. Returns True when `aiki wake`
        ended the sleep early.
        """
        length = parse_duration(duration, f"the duration of sleep {name!r}")
        self._check_boundary()
        seq = self._next("sleep", name)
        ended = self._history.sleeps_ended.get((name, seq))
        if ended is not None:
            return ended.woken
        started = self._history.sleeps_started.get((name, seq))
        now = self._clock.now()
        if started is None or set_back(started.at, now):
            started = SleepStarted(at=now, name=name, seq=seq, until=now + length)
            self._record(started)
            self._history.sleeps_started[name, seq] = started
        until = started.at + length
        woken = "wake" in self._claim.requests()
        if not woken and self._clock.now() < until:
            await self._park(RunStatus.SLEEPING, until)
        self._record(SleepEnded(at=self._clock.now(), name=name, seq=seq, woken=woken))
        if woken:
            self._claim.clear_request("wake")
        return woken

    async def _until(self, moment: datetime, status: RunStatus) -> None:
        """Wait until `moment`: in the worker when it is close, else parked in `status`."""
        left = moment - self._clock.now()
        if left <= timedelta(0):
            return
        if left <= SHORT_WAIT:
            await self._clock.sleep(left.total_seconds())
            return
        await self._park(status, moment)

    # -- events ---------------------------------------------------------------------

    async def wait_for_event(
        self, name: str, *, timeout: float | str | timedelta | None = None
    ) -> EventResult:
        """The data of the next event `name` sent to this run (one sent before the wait
        counts), or a timed-out result once `timeout` has passed."""
        limit = None if timeout is None else parse_duration(timeout, f"the timeout of {name!r}")
        self._check_boundary()
        seq = self._next("event", name)
        if (name, seq) in self._history.timeouts:
            return EventResult(name, timed_out=True)
        received = self._history.take_event(name)
        if received is not None:
            codec = self._event_codecs.get(name)
            return EventResult(name, codec.decode(received.data) if codec else received.data)
        wait = self._history.waits.get((name, seq))
        now = self._clock.now()
        if wait is None or (wait.until is not None and set_back(wait.at, now)):
            until = None if limit is None else now + limit
            wait = EventWaited(at=now, name=name, seq=seq, until=until)
            self._record(wait)
            self._history.waits[name, seq] = wait
        if wait.until is None or self._clock.now() < wait.until:
            await self._park(RunStatus.AWAITING_EVENT, wait.until)
        self._record(EventTimedOut(at=self._clock.now(), name=name, seq=seq))
        self._history.timeouts.add((name, seq))
        return EventResult(name, timed_out=True)

    # -- children -------------------------------------------------------------------

    async def start_child(self, version: WorkflowVersion, input: Any) -> ChildHandle:
        """Start a child run of `version` once, however often this run is replayed
        (`version.start(run, input)` calls this)."""
        self._check_boundary()
        seq = self._next("child", "")
        started = self._history.children.get(seq)
        if started is None:
            await self._flush()
            now = self._clock.now()
            spec = new_spec(
                version.name,
                version.version,
                version.inputs.encode(input),
                now,
                idempotency_key=f"child:{self.id}:{self.attempt}:{seq}",
                parent_id=self.id,
            )
            try:
                stored = self._store.create_run(spec)
            except StoreUnwritable as error:
                raise StorageFailed(error) from error
            started = ChildStarted(
                at=now, seq=seq, child=stored.id, workflow=version.name, version=version.version
            )
            self._record(started)
            self._history.children[seq] = started
        return ChildHandle(self, started.child)

    async def await_child(self, child_id: str) -> Any:
        """The result of the child run `child_id`, parking this run until it ends
        (`ChildHandle.wait_for_completion` calls this)."""
        self._check_boundary()
        ended = self._history.ended.get(child_id)
        if ended is None:
            info = summarize(*self._store.read_run(child_id))
            if not info.status.terminal:
                await self._park(RunStatus.AWAITING_CHILD, None)
            ended = ChildEnded(
                at=self._clock.now(),
                child=child_id,
                status=info.status,
                result=info.result,
                error=info.error,
            )
            self._record(ended)
            self._history.ended[child_id] = ended
        if ended.status == RunStatus.COMPLETED:
            return ended.result
        if ended.status == RunStatus.FAILED and ended.error is not None:
            raise ChildFailed(child_id, ended.error.type, ended.error.message)
        raise ChildCancelled(child_id)

    # -- parking --------------------------------------------------------------------

    def _next(self, kind: str, name: str) -> int:
        self._occurrences[kind, name] += 1
        return self._occurrences[kind, name]

    async def _park(self, status: RunStatus, until: datetime | None) -> NoReturn:
        """Wait until the engine parks the run, which ends this execution of its code."""
        if self._parking is None:
            self._parking = asyncio.get_running_loop().create_future()
        self._parks.append((status, until))
        self.changed.set()
        await self._parking
        raise AssertionError("a parked run resumes by replay, never here")

    async def blocked(self) -> bool:
        """Whether every branch of the run waits to be parked (checked by the engine)."""
        if not self._parks or self._in_flight:
            return False  # the common case, after each task: no settling needed
        await self._settle()
        return bool(self._parks) and not self._in_flight

    def suspend(self) -> None:
        """Park the run: every waiting branch raises `SuspendSignal`."""
        assert self._parking is not None
        self._parking.set_exception(SuspendSignal())

    def parked(self) -> tuple[RunStatus, datetime | None]:
        """The status to park in (the first wait's) and the earliest due time of all."""
        dues = [until for _, until in self._parks if until is not None]
        return self._parks[0][0], min(dues, default=None)

    async def close(self, grace: float | None = None) -> None:
        """End the run's code: no new task starts; tasks in flight finish (or are cancelled
        after `grace` seconds) and their results are journaled."""
        self._closed = True
        if self._parking is not None and not self._parking.done():
            self._parking.cancel()
        if not self._in_flight:
            return
        _, late = await asyncio.wait(set(self._in_flight), timeout=grace)
        for job in late:
            job.cancel()
        await asyncio.gather(*late, return_exceptions=True)
