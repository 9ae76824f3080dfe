"""Tracebacks of user code in the journal: a failed task's and a failed workflow's own,
without aiki's frames, bounded in size, and optional so older journals still load."""

from __future__ import annotations

import asyncio
from typing import Any

from aiki_cli import Run, task, workflow
from aiki_cli.model.entry import ErrorInfo, TaskFailed, parse_entry
from aiki_cli.model.failure import bound, format_traceback
from aiki_cli.testing import Harness


def _read_field(order: dict[str, Any]) -> Any:
    return order["orderData"]


@task(name="read-order")
def read_order(input: dict[str, Any]) -> Any:
    return _read_field(input)


@task(name="read-order-async")
async def read_order_async(input: dict[str, Any]) -> Any:
    return _read_field(input)


@workflow(name="tb-task").v("1.0.0")
async def task_fails(input: str, run: Run) -> Any:
    chosen = read_order if input == "sync" else read_order_async
    return await chosen.start(run, {"order": 1})


@workflow(name="tb-own").v("1.0.0")
async def workflow_fails(input: Any, run: Run) -> Any:
    return {}["missing"]


def failed(version: Any, input: Any = None) -> tuple[Any, list[Any]]:
    async def scenario() -> tuple[Any, list[Any]]:
        harness = Harness([task_fails, workflow_fails])
        handle = await harness.start(version, input)
        await harness.run_until_idle()
        info = await handle.get_status()
        return info, list(harness.store.read_run(handle.id)[1])

    return asyncio.run(scenario())


def test_a_failed_task_journals_the_traceback_of_its_code() -> None:
    for kind in ("sync", "async"):
        info, entries = failed(task_fails, kind)
        [entry] = [entry for entry in entries if isinstance(entry, TaskFailed)]
        traceback = entry.error.traceback
        assert traceback is not None, kind
        assert traceback.startswith("Traceback (most recent call last):")
        assert "in _read_field" in traceback and 'return order["orderData"]' in traceback
        assert traceback.rstrip().endswith("KeyError: 'orderData'")
        assert "/aiki_cli/" not in traceback, traceback  # aiki's own frames are left out
        assert "asyncio" not in traceback and "concurrent" not in traceback, traceback
        assert info.tasks[0].error.traceback == traceback


def test_the_workflows_own_exception_gets_its_traceback() -> None:
    info, _ = failed(workflow_fails)
    assert info.error.type == "KeyError"
    assert "in workflow_fails" in info.error.traceback
    assert 'return {}["missing"]' in info.error.traceback
    assert info.document()["error"]["traceback"] == info.error.traceback


def test_a_task_failure_the_workflow_does_not_catch_points_at_the_workflow_line() -> None:
    info, _ = failed(task_fails, "sync")
    assert info.error.type == "TaskFailed"
    assert "in task_fails" in info.error.traceback
    assert "/aiki_cli/" not in info.error.traceback  # no frame of aiki's own


def test_an_error_never_raised_has_no_traceback() -> None:
    assert format_traceback(ValueError("made, not raised")) is None
    assert ErrorInfo.of(ValueError("x")).traceback is None


def test_causes_keep_their_user_frames() -> None:
    def inner() -> None:
        raise KeyError("root")

    try:
        try:
            inner()
        except KeyError as error:
            raise RuntimeError("wrapped") from error
    except RuntimeError as error:
        text = format_traceback(error)
    assert text is not None
    assert "in inner" in text and "KeyError: 'root'" in text
    assert "direct cause" in text and text.endswith("RuntimeError: wrapped")


def test_a_long_traceback_keeps_its_head_and_tail_with_a_marker() -> None:
    lines = [f"line {n:05d}" for n in range(5000)]
    text = "\n".join(lines)
    kept = bound(text, limit=1000, head=300)
    assert len(kept) < 1100
    assert kept.startswith("line 00000\n") and kept.endswith("line 04999")
    assert "characters cut" in kept
    head, _, tail = kept.partition("… ")
    assert all(line in lines for line in head.splitlines())  # cut at whole lines
    assert all(line in lines for line in tail.split("\n", 1)[1].splitlines())
    assert bound("short") == "short"


def test_a_deep_recursion_is_bounded() -> None:
    def down(n: int) -> int:
        return down(n + 1) if n < 150 else {}["deep"]  # type: ignore[no-any-return]

    try:
        down(0)
    except KeyError as error:
        text = format_traceback(error)
    assert text is not None and len(text) < 8100
    assert text.endswith("KeyError: 'deep'")


def test_a_journal_line_without_a_traceback_still_loads() -> None:
    old = (
        '{"type":"task_failed","at":"2026-01-01T00:00:00Z","task":"pay","hash":"h",'
        '"error":{"type":"KeyError","message":"\'orderData\'"},"attempt":1}'
    )
    entry = parse_entry(old)
    assert isinstance(entry, TaskFailed)
    assert (entry.error.type, entry.error.traceback) == ("KeyError", None)
