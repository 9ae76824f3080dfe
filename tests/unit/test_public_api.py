"""The public API is `aiki_cli/__init__.py`: a curated, sorted `__all__` (STYLE "Shape")."""

from __future__ import annotations

import types
from pathlib import Path

import aiki_cli

EXPECTED = [
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


def test_all_is_sorted() -> None:
    assert aiki_cli.__all__ == sorted(aiki_cli.__all__)


def test_all_is_the_expected_api() -> None:
    assert aiki_cli.__all__ == EXPECTED


def test_every_name_in_all_is_importable() -> None:
    namespace: dict[str, object] = {}
    exec("from aiki_cli import *", namespace)
    for name in aiki_cli.__all__:
        value = namespace[name]
        assert value is getattr(aiki_cli, name)
        home = value.__name__ if isinstance(value, types.ModuleType) else value.__module__
        assert home.startswith("aiki_cli.")


def test_nothing_public_is_left_out_of_all() -> None:
    exec("from aiki_cli import *", {})  # the API is imported when first asked for
    public = {
        name
        for name, value in vars(aiki_cli).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    # `retry` is the one module in the API: `retry.exponential(...)` reads as the spec writes it.
    assert public | {"retry"} == set(aiki_cli.__all__)


def test_the_package_ships_type_information() -> None:
    assert (Path(aiki_cli.__file__).parent / "py.typed").is_file()
