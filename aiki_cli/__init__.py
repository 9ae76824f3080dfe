"""aiki: durable workflows for Python, stored in plain files."""

from . import gc_pause

# What importing makes lives as long as the process: no collection looks at it meanwhile.
with gc_pause.uncollected():
    from .authoring import retry
    from .authoring.history import EventResult
    from .authoring.retry import RetryPolicy
    from .authoring.run import Run
    from .authoring.task import Task, task
    from .authoring.workflow import ChildHandle, Workflow, WorkflowVersion, workflow
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
    from .model.runinfo import RunInfo, TaskInfo
    from .model.schedule import Overlap, Schedule
    from .model.status import RunStatus
    from .store import FileStore, MemoryStore, Store
    from .worker.loop import Worker

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
