"""aiki: durable workflows for Python, stored in plain files."""

from . import gc_pause

# What importing makes lives as long as the process: no collection looks at it meanwhile.
with gc_pause.uncollected():
    from . import retry
    from .client import Client, RunHandle
    from .errors import (
        AikiError,
        BadInput,
        ChildCancelled,
        ChildFailed,
        DivergenceError,
        IdempotencyConflict,
        InputInvalid,
        NotFound,
        RunCancelled,
        RunFailed,
        RunNotFound,
        ScheduleNotFound,
        TaskFailed,
        TaskTimeout,
        WaitTimeout,
        WorkflowNotFound,
    )
    from .history import EventResult
    from .record import RunInfo, TaskInfo
    from .retry import RetryPolicy
    from .run import Run
    from .schedule import Overlap, Schedule
    from .status import RunStatus
    from .store import FileStore, MemoryStore, Store
    from .task import Task, task
    from .worker import Worker
    from .workflow import ChildHandle, Workflow, WorkflowVersion, workflow

__all__ = [
    "AikiError",
    "BadInput",
    "ChildCancelled",
    "ChildFailed",
    "ChildHandle",
    "Client",
    "DivergenceError",
    "EventResult",
    "FileStore",
    "IdempotencyConflict",
    "InputInvalid",
    "MemoryStore",
    "NotFound",
    "Overlap",
    "RetryPolicy",
    "Run",
    "RunCancelled",
    "RunFailed",
    "RunHandle",
    "RunInfo",
    "RunNotFound",
    "RunStatus",
    "Schedule",
    "ScheduleNotFound",
    "Store",
    "Task",
    "TaskFailed",
    "TaskInfo",
    "TaskTimeout",
    "WaitTimeout",
    "Worker",
    "Workflow",
    "WorkflowNotFound",
    "WorkflowVersion",
    "retry",
    "task",
    "workflow",
]
