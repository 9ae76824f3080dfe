"""The words of the live line (`cli/live.py`): tasks done, the task executing now, retries,
what a parked run waits for, its progress and the time since it was created; counted from
the entries as they arrive, not by reading the run again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aiki_cli.cli import live
from aiki_cli.model.entry import ErrorInfo, StatusChanged, TaskCompleted, TaskFailed, TaskStarted
from aiki_cli.model.runinfo import ProgressInfo, RunInfo
from aiki_cli.model.status import RunStatus
from aiki_cli.model.waiting import WaitingFor
from aiki_cli.store.memory import MemoryStore
from aiki_cli.store.tail import Tail

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RUN_ID = "01m8xczjmd2vpex8d56ga2xkzp"


def info(status: RunStatus, **more: object) -> RunInfo:
    return RunInfo(
        id=RUN_ID,
        workflow="w",
        version="1.0.0",
        status=status,
        created_at=T0,
        updated_at=T0,
        **more,
    )


def line_at(seconds: float) -> live.RunLine:
    return live.RunLine(Tail(MemoryStore(), RUN_ID), lambda: T0 + timedelta(seconds=seconds))


def test_a_running_run_says_what_it_did_and_does() -> None:
    line = line_at(3.25)
    error = ErrorInfo(type="IOError", message="flaky")
    line.feed(
        [
            StatusChanged(at=T0, old=RunStatus.PENDING, new=RunStatus.RUNNING),
            TaskStarted(at=T0, task="fetch", hash="a"),
            TaskCompleted(at=T0, task="fetch", hash="a"),
            TaskStarted(at=T0, task="charge", hash="b"),
            TaskFailed(at=T0, task="charge", hash="b", error=error, retry_at=T0),
            TaskStarted(at=T0, task="charge", hash="b", attempt=2),
        ]
    )
    progress = ProgressInfo(message="charging", fraction=0.4, at=T0)
    text = line.text(info(RunStatus.RUNNING, progress=progress))
    assert (
        text
        == f"run {RUN_ID} · running · 1 task done · now charge · 1 retry · charging (40%) · 3.2s"
    )


def test_a_parked_run_says_what_it_waits_for_and_no_task_executing() -> None:
    line = line_at(61)
    line.feed([TaskStarted(at=T0, task="fetch", hash="a")])
    waiting = WaitingFor(kind="event", name="approved")
    text = line.text(info(RunStatus.AWAITING_EVENT, waiting_for=waiting))
    assert (
        text == f"run {RUN_ID} · awaiting_event · 0 tasks done · waiting for event approved · 61.0s"
    )


def test_a_new_execution_forgets_the_calls_a_dead_worker_left_open() -> None:
    line = line_at(0)
    line.feed([TaskStarted(at=T0, task="fetch", hash="a")])
    line.feed([StatusChanged(at=T0, old=RunStatus.RUNNING, new=RunStatus.RUNNING)])
    assert "now" not in line.text(info(RunStatus.RUNNING))


@pytest.mark.parametrize(
    ("env", "as_json", "tty", "expected"),
    [
        ({}, False, True, "live"),
        ({}, True, True, None),
        ({}, False, False, None),
        ({"CI": "true"}, False, True, "plain"),
        ({"CI": "true"}, False, False, "plain"),
        ({"CI": "true"}, True, False, None),
    ],
)
def test_the_line_shows_only_on_a_terminal_and_plainly_in_ci(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], as_json: bool, tty: bool, expected: str
) -> None:
    monkeypatch.delenv("CI", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr("sys.stderr.isatty", lambda: tty)
    assert live.mode(as_json) == expected
