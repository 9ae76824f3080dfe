"""Folding a run's journal into its current state: status, result, error and tasks."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable

from .entry import (
    ChildStarted,
    Entry,
    Recovered,
    StatusChanged,
    TaskCompleted,
    TaskFailed,
    TaskStarted,
)
from .runinfo import RunInfo, RunSpec, TaskInfo
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
        elif isinstance(entry, TaskCompleted | TaskFailed):
            open_calls.pop((entry.task, entry.hash), None)
    return sorted(set(open_calls.values()))


def summarize(
    spec: RunSpec, entries: Iterable[Entry], *, cancel_requested: bool = False
) -> RunInfo:
    """The run's state as of its last journal entry."""
    fold = Fold.start(spec)
    for entry in entries:
        fold.feed(entry)
    return fold.result(cancel_requested)


Calls = defaultdict[tuple[str, str], deque[TaskInfo]]


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
        info, open_calls, retrying = self.info, self.open_calls, self.retrying
        info.updated_at = entry.at
        self.waits.note(entry)
        if isinstance(entry, StatusChanged):
            if entry.attempt > info.attempt:
                _retry_failed_calls(info, retrying)
            _apply_status(info, entry)
            if entry.new == RunStatus.RUNNING:
                open_calls.clear()  # calls left open by a dead worker stay interrupted
        elif isinstance(entry, Recovered):
            info.recoveries = entry.count
        elif isinstance(entry, ChildStarted):
            info.children.append(entry.child)
        elif isinstance(entry, TaskStarted):
            _start_call(info, open_calls, retrying, entry)
        elif isinstance(entry, TaskCompleted | TaskFailed):
            address = (entry.task, entry.hash)
            call = _finish_call(info, open_calls[address], entry)
            if isinstance(entry, TaskFailed) and entry.retry_at is not None:
                call.status = "retrying"
                retrying[address].append(call)

    def result(self, cancel_requested: bool = False) -> RunInfo:
        info = self.info
        info.waiting_for = self.waits.of(info.status, info.due_at)
        info.cancel_requested = cancel_requested and not info.status.terminal
        return info


def _start_call(info: RunInfo, open_calls: Calls, retrying: Calls, entry: TaskStarted) -> None:
    address = (entry.task, entry.hash)
    if retrying[address]:
        call = retrying[address].popleft()  # another attempt of the same call
        call.attempts += 1
    else:
        call = TaskInfo(name=entry.task, hash=entry.hash, status="running", attempts=entry.attempt)
        info.tasks.append(call)
    call.status, call.started_at = "running", entry.at
    call.finished_at = call.duration_ms = call.error = None
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
