"""`task(..., timeout=…)`: an attempt running longer fails with `TaskTimeout`, retried by
the task's policy. A coroutine body is cancelled; a plain function, which Python cannot
stop, is abandoned in its thread and the worker says so; an abandoned body does not keep
its run claimed."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from aiki_cli import Run, RunStatus, Task, TaskTimeout, retry, task, workflow
from aiki_cli.testing import Harness

TIMEOUT = 0.05
HANG_LIMIT = 30.0  # a hung body gives up after this, so that no thread outlives the tests


@pytest.fixture
def unblock() -> Iterator[threading.Event]:
    """Set at the end of the test: plain-function bodies hung in their threads return."""
    event = threading.Event()
    yield event
    event.set()


def run_once(body: Task) -> tuple[Any, list[Any], bool]:
    """Run a one-task workflow over `body` to its end: its status, journal, and whether
    its run could be claimed at the end."""
    flow = workflow(name="timed")

    @flow.v("1.0.0")
    async def v1(input: Any, run: Run) -> Any:
        return await body.start(run, None)

    async def scenario() -> tuple[Any, list[Any], bool]:
        harness = Harness([flow])
        handle = await harness.start(v1)
        await harness.run_until_idle()
        claim = harness.store.claim(handle.id)
        if claim is not None:
            claim.release()
        info = await handle.get_status()
        return info, await harness.client.history(handle.id), claim is not None

    return asyncio.run(scenario())


def test_a_plain_function_past_its_timeout_is_abandoned_and_its_attempt_retried(
    unblock: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    def hangs_the_first_time(value: Any) -> str:
        calls.append(len(calls) + 1)
        if len(calls) == 1:
            unblock.wait(HANG_LIMIT)
            return "too late"
        return "in time"

    body = task(name="slow", exec=hangs_the_first_time, timeout=TIMEOUT, retry=retry.fixed(2, 0.1))
    with caplog.at_level(logging.WARNING, logger="aiki"):
        info, journal, claimable = run_once(body)

    assert (info.status, info.result, calls) == (RunStatus.COMPLETED, "in time", [1, 2])
    (failure,) = [entry for entry in journal if entry.type == "task_failed"]
    assert (failure.attempt, failure.error.type) == (1, "TaskTimeout")
    assert failure.error.message == (
        "task 'slow' timed out after 0.05s; its body was abandoned, still running in its thread"
    )
    assert any(failure.error.message in record.getMessage() for record in caplog.records)
    assert claimable, "a body abandoned past its timeout does not keep its run claimed"
    assert not unblock.is_set(), "the abandoned body was still running all along"


def test_a_coroutine_past_its_timeout_is_cancelled() -> None:
    seen: list[str] = []

    async def hangs_the_first_time(value: Any) -> str:
        seen.append("started")
        if len(seen) == 1:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                seen.append("cancelled")
                raise
        return "in time"

    body = task(name="slow", exec=hangs_the_first_time, timeout=TIMEOUT, retry=retry.fixed(2, 0.1))
    info, journal, _ = run_once(body)

    assert (info.status, info.result) == (RunStatus.COMPLETED, "in time")
    assert seen == ["started", "cancelled", "started"]
    (failure,) = [entry for entry in journal if entry.type == "task_failed"]
    assert failure.error.message == "task 'slow' timed out after 0.05s; its body was cancelled"


def test_a_timeout_without_retries_fails_the_run() -> None:
    async def hangs(value: Any) -> None:
        await asyncio.Event().wait()

    info, _, _ = run_once(task(name="slow", exec=hangs, timeout="50ms"))

    assert info.status == RunStatus.FAILED
    assert info.error.message == (
        "task 'slow' failed: TaskTimeout: task 'slow' timed out after 0.05s; its body was cancelled"
    )


def test_a_body_returning_within_its_timeout_is_not_affected() -> None:
    def quick(value: Any) -> str:
        return "quick"

    info, journal, _ = run_once(task(name="quick", exec=quick, timeout=timedelta(minutes=1)))
    assert (info.status, info.result) == (RunStatus.COMPLETED, "quick")
    assert [entry.type for entry in journal if entry.type.startswith("task")] == [
        "task_started",
        "task_completed",
    ]


def test_a_body_raising_timeout_error_itself_is_not_taken_for_a_timeout() -> None:
    async def raises(value: Any) -> None:
        raise TimeoutError("the service timed out")

    info, _, _ = run_once(task(name="raises", exec=raises, timeout=10))
    assert info.error.message == "task 'raises' failed: TimeoutError: the service timed out"


@pytest.mark.parametrize(
    ("given", "seconds"), [(30, 30.0), (0.5, 0.5), ("1m30s", 90.0), (timedelta(hours=1), 3600.0)]
)
def test_a_timeout_is_seconds_a_timedelta_or_text(given: Any, seconds: float) -> None:
    assert task(name="t", exec=lambda value: value, timeout=given).timeout == seconds
    assert task(name="t", exec=lambda value: value).timeout is None


@pytest.mark.parametrize("given", [0, -1, "soon", True])
def test_a_timeout_that_is_not_a_duration_is_refused_where_the_task_is_defined(given: Any) -> None:
    with pytest.raises(ValueError, match="the timeout of task 't'"):
        task(name="t", exec=lambda value: value, timeout=given)


def test_task_timeout_is_a_timeout_error() -> None:
    error = TaskTimeout("slow", 2.0, "was cancelled")
    assert isinstance(error, TimeoutError)
    assert (error.task, error.timeout) == ("slow", 2.0)
