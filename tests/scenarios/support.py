"""Helpers of the scenario tier: execution counters, journals, and deploying new code."""

from __future__ import annotations

import functools
import inspect
from collections import Counter
from collections.abc import Iterable
from typing import Any

import pytest

from aiki_cli import RunHandle, Task, Worker, Workflow, WorkflowVersion
from aiki_cli.testing import Harness


def count_calls(monkeypatch: pytest.MonkeyPatch, *tasks: Task) -> Counter[str]:
    """Count each execution of `tasks` (by task name); replayed calls do not count."""
    calls: Counter[str] = Counter()
    for task in tasks:
        monkeypatch.setattr(task, "exec", _counted(task.exec, task.name, calls))
    return calls


def _counted(fn: Any, name: str, calls: Counter[str]) -> Any:
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def counted_async(value: Any) -> Any:
            calls[name] += 1
            return await fn(value)

        return counted_async

    @functools.wraps(fn)
    def counted(value: Any) -> Any:
        calls[name] += 1
        return fn(value)

    return counted


async def journal(handle: RunHandle, *types: str) -> list[Any]:
    """The run's journal entries, only those of `types` when given."""
    entries = await handle.client.history(handle.id)
    return [entry for entry in entries if not types or entry.type in types]


def deploy(harness: Harness, workflows: Iterable[Workflow | WorkflowVersion]) -> Worker:
    """Replace the harness's worker by one that loads `workflows`: new code, same store
    and clock, as after a deploy."""
    harness.worker = Worker(harness.client, list(workflows), poll_interval=0.001)
    return harness.worker


def mail_of(harness: Harness, run_id: str) -> list[Any]:
    """The mail waiting in the run's inbox (not yet journaled)."""
    claim = harness.store.claim(run_id)
    assert claim is not None, "no worker holds the run"
    try:
        return claim.mail()
    finally:
        claim.release()
