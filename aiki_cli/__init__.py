"""aiki: durable workflows for Python, stored in plain files.

The public API is imported when first used (PEP 562), so a command that needs little of
it (`aiki status`, `aiki list`) does not pay for the rest at start-up.
"""

import typing

from . import gc_pause

if typing.TYPE_CHECKING:
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

# Where each name of the API lives, relative to this package.
_HOMES = {
    ".authoring.history": ["EventResult"],
    ".authoring.retry": ["RetryPolicy"],
    ".authoring.run": ["Run"],
    ".authoring.task": ["Task", "task"],
    ".authoring.workflow": ["ChildHandle", "Workflow", "WorkflowVersion", "workflow"],
    ".client": ["Client", "RunHandle"],
    ".errors": [
        "AikiError",
        "BadInput",
        "ChildCancelled",
        "ChildFailed",
        "DivergenceError",
        "IdempotencyConflict",
        "InputInvalid",
        "NotFound",
        "RunCancelled",
        "RunFailed",
        "RunNotFound",
        "ScheduleNotFound",
        "TaskFailed",
        "TaskTimeout",
        "WaitTimeout",
        "WorkflowNotFound",
    ],
    ".model.runinfo": ["RunInfo", "TaskInfo"],
    ".model.schedule": ["Overlap", "Schedule"],
    ".model.status": ["RunStatus"],
    ".store": ["FileStore", "MemoryStore", "Store"],
    ".worker.loop": ["Worker"],
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}
_MODULES = {"retry": ".authoring.retry"}  # `retry.exponential(...)` reads as the spec writes it


def __getattr__(name: str) -> typing.Any:
    """A name of the API, imported from its home the first time it is asked for."""
    home = _HOME.get(name) or _MODULES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    # What importing makes lives as long as the process: no collection looks at it meanwhile.
    with gc_pause.uncollected():
        module = import_module(home, __name__)
    value = module if name in _MODULES else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
