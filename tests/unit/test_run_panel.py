"""The `status` panel: the last tasks of a long run, where a failure happened, and what
a parked run waits for, drawn to a fixed-width string console."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console

from aiki_cli.cli.views import run_panel
from aiki_cli.model.entry import ErrorInfo
from aiki_cli.model.runinfo import RunInfo, TaskInfo
from aiki_cli.model.status import RunStatus
from aiki_cli.model.waiting import WaitingFor

AT = datetime(2026, 12, 2, 22, 51, tzinfo=UTC)
USER_TB = "Traceback (most recent call last):\n  File \"flows.py\", line 3, in pay\nKeyError: 'x'"


def drawn(info: RunInfo, *, all_tasks: bool = False) -> str:
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(run_panel(info, all_tasks=all_tasks))
    return console.file.getvalue()  # type: ignore[attr-defined,no-any-return]


def run(**fields: object) -> RunInfo:
    return RunInfo(
        id="01m8wf8fvyepnp7gzs11cktj31",
        workflow="orders",
        version="1.0.0",
        status=fields.pop("status", RunStatus.FAILED),
        created_at=AT,
        updated_at=AT,
        **fields,  # type: ignore[arg-type]
    )


def test_the_workflows_own_failure_shows_its_traceback() -> None:
    error = ErrorInfo(type="KeyError", message="'x'", traceback=USER_TB)
    text = drawn(run(error=error))
    assert "traceback of the workflow:" in text and 'File "flows.py", line 3' in text


def test_a_task_failure_shows_the_tasks_traceback_once() -> None:
    failed = ErrorInfo(type="KeyError", message="'x'", traceback=USER_TB)
    call = TaskInfo(name="pay", hash="h", status="failed", attempts=2, error=failed)
    error = ErrorInfo(type="TaskFailed", message="task 'pay' failed", task="pay", traceback="wf")
    text = drawn(run(error=error, tasks=[call]))
    assert "traceback of task pay:" in text and text.count('File "flows.py"') == 1
    assert "traceback of the workflow" not in text


def test_an_old_failure_without_a_traceback_shows_none() -> None:
    call = TaskInfo(
        name="pay", hash="h", status="failed", attempts=1, error=ErrorInfo(type="E", message="m")
    )
    assert "traceback" not in drawn(run(error=ErrorInfo(type="E", message="m"), tasks=[call]))


def test_a_long_run_shows_its_last_20_tasks_numbered_as_they_ran() -> None:
    calls = [TaskInfo(name=f"t{n}", hash="h", status="completed", attempts=1) for n in range(1, 26)]
    info = run(status=RunStatus.COMPLETED, tasks=calls)
    text = drawn(info)
    assert "… 5 earlier tasks (--all)" in text
    assert " t5 " not in text and " 6  t6 " in text and "25  t25 " in text
    everything = drawn(info, all_tasks=True)
    assert "earlier" not in everything and " 1  t1 " in everything


def test_a_parked_run_says_what_it_waits_for() -> None:
    wait = WaitingFor(kind="event", name="approved", due=AT)
    text = drawn(run(status=RunStatus.AWAITING_EVENT, waiting_for=wait, due_at=AT))
    assert "waiting for  event approved" in text
