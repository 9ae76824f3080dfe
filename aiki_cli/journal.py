"""Folding a run's journal into its current state: status, result, error and tasks."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable

from .entry import Entry, Recovered, StatusChanged, TaskCompleted, TaskFailed, TaskStarted
from .record import RunInfo, RunSpec, TaskInfo
from .status import RunStatus


def current_status(entries: Iterable[Entry]) -> RunStatus:
    status = RunStatus.PENDING
    for entry in entries:
        if isinstance(entry, StatusChanged):
            status = entry.new
    return status


def summarize(
    spec: RunSpec, entries: Iterable[Entry], *, cancel_requested: bool = False
) -> RunInfo:
    """The run's state as of its last journal entry."""
    info = RunInfo(
        id=spec.id,
        workflow=spec.workflow,
        version=spec.version,
        status=RunStatus.PENDING,
        input=spec.input,
        created_at=spec.created_at,
        updated_at=spec.created_at,
        idempotency_key=spec.idempotency_key,
    )
    open_calls: defaultdict[tuple[str, str], deque[TaskInfo]] = defaultdict(deque)
    for entry in entries:
        info.updated_at = entry.at
        if isinstance(entry, StatusChanged):
            _apply_status(info, entry)
        elif isinstance(entry, Recovered):
            info.recoveries = entry.count
        elif isinstance(entry, TaskStarted):
            call = TaskInfo(
                name=entry.task,
                hash=entry.hash,
                status="running",
                attempts=entry.attempt,
                started_at=entry.at,
            )
            info.tasks.append(call)
            open_calls[entry.task, entry.hash].append(call)
        else:
            _finish_call(info, open_calls[entry.task, entry.hash], entry)
    info.cancel_requested = cancel_requested and not info.status.terminal
    return info


def _apply_status(info: RunInfo, entry: StatusChanged) -> None:
    info.status = entry.new
    info.attempt = entry.attempt
    if entry.new == RunStatus.COMPLETED:
        info.result = entry.result
    if entry.new == RunStatus.FAILED:
        info.error = entry.error
    elif entry.new == RunStatus.PENDING:
        info.error = None
    if entry.new == RunStatus.RUNNING:
        # A call left open by a worker that died is no longer running.
        for call in info.tasks:
            if call.status == "running":
                call.status = "interrupted"


def _finish_call(
    info: RunInfo, open_calls: deque[TaskInfo], entry: TaskCompleted | TaskFailed
) -> None:
    if open_calls:
        call = open_calls.popleft()
    else:
        call = TaskInfo(name=entry.task, hash=entry.hash, status="running", attempts=entry.attempt)
        info.tasks.append(call)
    call.status = "completed" if isinstance(entry, TaskCompleted) else "failed"
    call.attempts = entry.attempt
    call.finished_at = entry.at
    if call.started_at is not None:
        call.duration_ms = round((entry.at - call.started_at).total_seconds() * 1000, 3)
    if isinstance(entry, TaskFailed):
        call.error = entry.error
