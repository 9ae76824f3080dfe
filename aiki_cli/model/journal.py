"""Folding a run's journal into its current state: status, result, error and tasks."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable

from .entry import (
    ChildStarted,
    Entry,
    Progress,
    Recovered,
    StatusChanged,
    TaskCompleted,
    TaskFailed,
    TaskStarted,
)
from .runinfo import ProgressInfo, RunInfo, RunSpec, TaskInfo
from .status import RunStatus
from .waiting import Waits


def current_status(entries: Iterable[Entry]) -> RunStatus:
    last = last_status(entries)
    return RunStatus.PENDING if last is None else last.new


def last_status(entries: Iterable[Entry]) -> StatusChanged | None:
    last = None
    for entry in entries:
        if isinstance(entry, StatusChanged):
            last = entry
    return last


def left_open(entries: Iterable[Entry]) -> list[str]:
    """The tasks of the run's last execution that started and never finished, by name."""
    open_calls: dict[tuple[str, str], str] = {}
    for entry in entries:
        if isinstance(entry, StatusChanged) and entry.new == RunStatus.RUNNING:
            open_calls.clear()
        elif isinstance(entry, TaskStarted):
            open_calls[entry.task, entry.hash] = entry.task
        elif isinstance(entry, _FINISHED):
            open_calls.pop((entry.task, entry.hash), None)
    return sorted(set(open_calls.values()))


def summarize(
    spec: RunSpec, entries: Iterable[Entry], *, cancel_requested: bool = False
) -> RunInfo:
    """The run's state as of its last journal entry."""
    fold = Fold.start(spec)
    fold.feed_all(entries)
    return fold.result(cancel_requested)


Calls = defaultdict[tuple[str, str], deque[TaskInfo]]
_FINISHED = (TaskCompleted, TaskFailed)


class Fold:
    """A run's state, folded from its journal one entry at a time: it can be kept (see
    `summary`) and fed the entries appended since."""

    def __init__(self, info: RunInfo, open_calls: Calls, retrying: Calls, waits: Waits) -> None:
        self.info = info
        self.open_calls = open_calls  # calls started and not finished, by address
        self.retrying = retrying  # calls that failed and wait for their next attempt
        self.waits = waits  # what the run waits for, once parked

    @classmethod
    def start(cls, spec: RunSpec) -> Fold:
        info = RunInfo(
            id=spec.id,
            workflow=spec.workflow,
            version=spec.version,
            status=RunStatus.PENDING,
            input=spec.input,
            created_at=spec.created_at,
            updated_at=spec.created_at,
            idempotency_key=spec.idempotency_key,
            parent_id=spec.parent_id,
            forked_from=spec.forked_from,
            due_at=spec.not_before,
        )
        return cls(info, defaultdict(deque), defaultdict(deque), Waits())

    def feed(self, entry: Entry) -> None:
        self.feed_all((entry,))

    def feed_all(self, entries: Iterable[Entry]) -> None:
        """Fold `entries`, in order; the run's `updated_at` is set once, from the last."""
        last = None
        for last in entries:
            self._fold(last)
        if last is not None:
            self.info.updated_at = last.at

    def _fold(self, entry: Entry) -> None:
        info = self.info
        self.waits.note(entry)
        # The entries of task calls first: they are most of any journal.
        if isinstance(entry, TaskStarted):
            _start_call(info, self.open_calls, self.retrying, entry)
        elif isinstance(entry, _FINISHED):
            address = (entry.task, entry.hash)
            call = _finish_call(info, self.open_calls[address], entry)
            if isinstance(entry, TaskFailed) and entry.retry_at is not None:
                call.status = "retrying"
                self.retrying[address].append(call)
        elif isinstance(entry, StatusChanged):
            if entry.attempt > info.attempt:
                _retry_failed_calls(info, self.retrying)
            _apply_status(info, entry)
            if entry.new == RunStatus.RUNNING:
                self.open_calls.clear()  # calls left open by a dead worker stay interrupted
        elif isinstance(entry, Recovered):
            info.recoveries = entry.count
        elif isinstance(entry, ChildStarted):
            info.children.append(entry.child)
        elif isinstance(entry, Progress):
            info.progress = ProgressInfo(
                message=entry.message, fraction=entry.fraction, at=entry.at
            )

    def result(self, cancel_requested: bool = False) -> RunInfo:
        info = self.info
        info.waiting_for = self.waits.of(info.status, info.due_at)
        info.cancel_requested = cancel_requested and not info.status.terminal
        return info


def _start_call(info: RunInfo, open_calls: Calls, retrying: Calls, entry: TaskStarted) -> None:
    address = (entry.task, entry.hash)
    again = retrying.get(address)  # not `retrying[address]`: no queue made for each call
    if again:
        call = again.popleft()  # another attempt of the same call
        call.attempts += 1
        call.status, call.started_at = "running", entry.at
        call.finished_at = call.duration_ms = call.error = None
    else:
        call = TaskInfo(
            name=entry.task,
            hash=entry.hash,
            status="running",
            attempts=entry.attempt,
            started_at=entry.at,
        )
        info.tasks.append(call)
    open_calls[address].append(call)


def _retry_failed_calls(info: RunInfo, retrying: Calls) -> None:
    """A new attempt of the run runs its failed calls again (completed ones replay), and
    those awaiting a retry start over: the next call at such a call's address is its next
    attempt, on the same row."""
    retrying.clear()
    for call in info.tasks:
        if call.status in ("failed", "retrying"):
            retrying[call.name, call.hash].append(call)


def _apply_status(info: RunInfo, entry: StatusChanged) -> None:
    info.status = entry.new
    info.attempt = entry.attempt
    info.due_at = entry.until
    if entry.new == RunStatus.COMPLETED:
        info.result = entry.result
    if entry.error is not None:
        info.error = entry.error
    elif entry.new in (RunStatus.COMPLETED, RunStatus.PENDING):
        info.error = None
    if entry.new == RunStatus.PENDING and entry.old in (RunStatus.FAILED, RunStatus.CANCELLED):
        info.recoveries = 0  # retried in place: a fresh start
    # A call still open when the run's status changes is no longer running: its worker
    # died (the run is running again) or stopped it mid-way (the run is pending again).
    for call in info.tasks:
        if call.status == "running":
            call.status = "interrupted"


def _finish_call(
    info: RunInfo, open_calls: deque[TaskInfo], entry: TaskCompleted | TaskFailed
) -> TaskInfo:
    if open_calls:
        call = open_calls.popleft()
    else:
        call = TaskInfo(name=entry.task, hash=entry.hash, status="running", attempts=entry.attempt)
        info.tasks.append(call)
    call.status = "completed" if isinstance(entry, TaskCompleted) else "failed"
    call.finished_at = entry.at
    if call.started_at is not None:
        call.duration_ms = round((entry.at - call.started_at).total_seconds() * 1000, 3)
    if isinstance(entry, TaskFailed):
        call.error = entry.error
    return call
