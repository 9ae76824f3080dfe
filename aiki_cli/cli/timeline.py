"""A run's journal as a timeline, as `aiki history` shows it: one row per entry, with its
moment, its offset from the run's start, what happened and the detail."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from ..model.entry import (
    ChildEnded,
    ChildStarted,
    Entry,
    ErrorInfo,
    EventReceived,
    EventTimedOut,
    EventWaited,
    Progress,
    Recovered,
    SleepEnded,
    SleepStarted,
    StatusChanged,
    TaskCompleted,
    TaskFailed,
    TaskStarted,
)
from ..model.status import RunStatus
from .views import short_json, status_text, when

if TYPE_CHECKING:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

LAST_ENTRIES = 40  # timeline rows `history` shows without --all


def timeline(entries: Sequence[Entry], start: datetime, *, all_entries: bool = False) -> Group:
    """A run's journal as a timeline, for `history`: its last entries, or every one."""
    from rich.console import Group
    from rich.table import Table

    shown = entries if all_entries else entries[-LAST_ENTRIES:]
    table = Table(box=None, pad_edge=False)
    for column, justify in (("at", "left"), ("+s", "right"), ("event", "left"), ("detail", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for entry in shown:
        event, detail = _describe(entry)
        offset = f"{(entry.at - start).total_seconds():.3f}"
        table.add_row(when(entry.at), offset, event, detail)
    hidden = len(entries) - len(shown)
    return Group(f"… {hidden} earlier entries (--all)", table) if hidden else Group(table)


def timeline_rows(entries: Sequence[Entry], start: datetime) -> Table:
    """Rows to add below a timeline (`history --follow`), in columns of fixed width."""
    from rich.table import Table

    table = Table(box=None, pad_edge=False, show_header=False)
    for width, justify in ((len(when(start)), "left"), (9, "right"), (20, "left"), (None, "left")):
        table.add_column(width=width, justify=justify)  # type: ignore[arg-type]
    for entry in entries:
        event, detail = _describe(entry)
        table.add_row(when(entry.at), f"{(entry.at - start).total_seconds():.3f}", event, detail)
    return table


def _describe(entry: Entry) -> tuple[Text, str | Text]:
    from rich.text import Text

    if isinstance(entry, StatusChanged):
        detail: str | Text = entry.reason or ""
        if entry.until is not None:
            detail = f"until {when(entry.until)}" + (f" ({detail})" if detail else "")
        if entry.error is not None:
            own = entry.error.type != "TaskFailed"  # a task's is on its ✘ row above
            detail = _error_detail(entry.error, "", traceback=own)
        elif entry.new == RunStatus.COMPLETED:
            detail = short_json(entry.result, 120)
        return Text(f"{entry.old} → ") + status_text(entry.new), detail
    if isinstance(entry, TaskStarted):
        return Text(f"▶ {entry.task}", style="blue"), short_json(entry.input, 120)
    if isinstance(entry, TaskCompleted):
        return Text(f"✔ {entry.task}", style="green"), short_json(entry.output, 120)
    if isinstance(entry, TaskFailed):
        again = f"; retry at {when(entry.retry_at)}" if entry.retry_at else ""
        return Text(f"✘ {entry.task}", style="red"), _error_detail(entry.error, again)
    if isinstance(entry, Recovered):
        return Text("recovered", style="yellow"), f"worker died; recovery {entry.count}"
    if isinstance(entry, Progress):
        share = "" if entry.fraction is None else f" ({entry.fraction:.0%})"
        return Text("… progress", style="dim"), f"{entry.message}{share}"
    return _describe_wait(entry)


def _error_detail(error: ErrorInfo, suffix: str, *, traceback: bool = True) -> Text:
    """`Type: message`, and below it the traceback of the user's code when there is one."""
    from rich.text import Text

    detail = Text(f"{error.type}: {error.message}{suffix}")
    if traceback and error.traceback:
        detail.append(f"\n{error.traceback}", style="dim")
    return detail


def _describe_wait(entry: Entry) -> tuple[Text, str]:
    """Sleeps, events and children in the timeline."""
    from rich.text import Text

    if isinstance(entry, SleepStarted):
        return Text(f"☾ sleep {entry.name}", style="magenta"), f"until {when(entry.until)}"
    if isinstance(entry, SleepEnded):
        return Text(f"☀ sleep {entry.name}", style="magenta"), "woken" if entry.woken else "done"
    if isinstance(entry, EventWaited):
        limit = f"until {when(entry.until)}" if entry.until else "no timeout"
        return Text(f"… wait {entry.name}", style="cyan"), limit
    if isinstance(entry, EventReceived):
        return Text(f"✉ {entry.name}", style="cyan"), short_json(entry.data, 120)
    if isinstance(entry, EventTimedOut):
        return Text(f"⌛ {entry.name}", style="yellow"), "timed out"
    if isinstance(entry, ChildStarted):
        return Text("↳ child", style="blue"), f"{entry.child} {entry.workflow}@{entry.version}"
    if isinstance(entry, ChildEnded):
        return Text("↲ child", style="blue"), f"{entry.child} {entry.status}"
    return Text(entry.type), ""
