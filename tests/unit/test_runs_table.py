"""`aiki list` at any width: ids and `workflow@version` whole on one line per run, the
other columns shown whole, shortened or left out — never wrapped or cut."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from rich.console import Console

from aiki_cli.cli.views import runs_table
from aiki_cli.model.runinfo import RunInfo
from aiki_cli.model.status import RunStatus
from aiki_cli.model.waiting import WaitingFor

AT = datetime(2026, 12, 2, 22, 51, 0, tzinfo=UTC)
IDS = ["01m8wf8fvyepnp7gzs11cktj31", "01m8wf8tm7djw7c5bz8t72vfyv"]


def runs(waiting: bool = False) -> list[RunInfo]:
    wait = WaitingFor(kind="event", name="approved") if waiting else None
    return [
        RunInfo(
            id=run_id,
            workflow="order-processing",
            version="1.0.0",
            status=RunStatus.AWAITING_EVENT if wait else RunStatus.COMPLETED,
            created_at=AT,
            updated_at=AT,
            waiting_for=wait,
        )
        for run_id in IDS
    ]


def drawn(width: int, waiting: bool = False) -> list[str]:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(runs_table(runs(waiting), width), crop=False)
    return console.file.getvalue().splitlines()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("width", "waiting", "header"),
    [
        (120, False, ["id", "workflow", "status", "created", "updated"]),
        (140, True, ["id", "workflow", "status", "waiting", "for", "created", "updated"]),
        (100, True, ["id", "workflow", "status", "waiting", "for", "created"]),
        (80, False, ["id", "workflow", "status", "created"]),  # a short date fits
        (80, True, ["id", "workflow", "status", "created"]),
        (40, False, ["id", "workflow", "status"]),
    ],
)
def test_columns_give_way_to_the_ids(width: int, waiting: bool, header: list[str]) -> None:
    lines = drawn(width, waiting)

    assert lines[0].split() == header
    assert len(lines) == 1 + len(IDS)  # one line per run: nothing wraps
    for line, run_id in zip(lines[1:], IDS, strict=True):
        assert line.split()[:2] == [run_id, "order-processing@1.0.0"]
    assert "…" not in "".join(lines)
    if width >= 61:  # id, workflow and status fit: the table does too
        assert max(len(line) for line in lines) <= width


def test_a_narrow_list_shortens_dates_before_leaving_them_out() -> None:
    assert "2026-12-02" in drawn(120)[1]
    short = drawn(80)[1]
    assert "2026" not in short and "12-02 " in short
