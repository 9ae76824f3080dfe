"""aiki: durable workflows for Python, stored in plain files."""

from .client import Client
from .errors import (
    AikiError,
    BadInput,
    DivergenceError,
    IdempotencyConflict,
    InputInvalid,
    NotFound,
    RunCancelled,
    RunFailed,
    RunNotFound,
    TaskFailed,
    WaitTimeout,
    WorkflowNotFound,
)
from .filestore import FileStore
from .handle import RunHandle
from .memstore import MemoryStore
from .record import RunInfo, TaskInfo
from .run import Run
from .status import RunStatus
from .store import Store
from .task import Task, task
from .worker import Worker
from .workflow import Workflow, WorkflowVersion, workflow

__all__ = [
    "AikiError",
    "BadInput",
    "Client",
    "DivergenceError",
    "FileStore",
    "IdempotencyConflict",
    "InputInvalid",
    "MemoryStore",
    "NotFound",
    "Run",
    "RunCancelled",
    "RunFailed",
    "RunHandle",
    "RunInfo",
    "RunNotFound",
    "RunStatus",
    "Store",
    "Task",
    "TaskFailed",
    "TaskInfo",
    "WaitTimeout",
    "Worker",
    "Workflow",
    "WorkflowNotFound",
    "WorkflowVersion",
    "task",
    "workflow",
]
