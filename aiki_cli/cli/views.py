"""Everything the CLI shows a person, through rich; machine output (`--json`) bypasses it.

Colour only on a terminal and never with NO_COLOR (rich's own rules); off a terminal,
lines are not wrapped at 80 columns.

rich costs ~25 ms to import, so each function imports what it draws with: `--json`
output, and a worker logging off a terminal, never load it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ..entry import (
    ChildEnded,
    ChildStarted,
    Entry,
    EventReceived,
    EventTimedOut,
    EventWaited,
    Recovered,
    SleepEnded,
    SleepStarted,
    StatusChanged,
    TaskCompleted,
    TaskFailed,
    TaskStarted,
)
from ..record import DamagedRun, RunInfo
from ..schedule import Schedule
from ..status import RunStatus
from ..workflow import WorkflowVersion
from . import streams

if TYPE_CHECKING:
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from ..doctor import Finding, Report

STYLES = {
    RunStatus.PENDING: "cyan",
    RunStatus.RUNNING: "blue",
    RunStatus.COMPLETED: "green",
    RunStatus.FAILED: "red",
    RunStatus.CANCELLED: "yellow",
    RunStatus.PAUSED: "magenta",
}
TASK_STYLES = {"completed": "green", "failed": "red", "running": "blue", "interrupted": "yellow"}


def _console(stderr: bool) -> Console:
    from rich.console import Console

    stream = sys.stderr if stderr else streams.stdout()
    width = None if stream.isatty() else _columns()
    # NO_COLOR asks for plain text (SPEC §6); rich alone would still print bold and dim.
    plain = bool(os.environ.get("NO_COLOR"))
    return Console(
        file=stream,
        width=width,
        soft_wrap=width is not None,
        color_system=None if plain else "auto",
    )


def _columns() -> int:
    """The width off a terminal: COLUMNS when it is a positive whole number, else 200."""
    columns = os.environ.get("COLUMNS", "").strip()
    return int(columns) if columns.isdigit() and int(columns) > 0 else 200


def out() -> Console:
    return _console(stderr=False)


def err() -> Console:
    return _console(stderr=True)


def print_json(document: Any) -> None:
    """One JSON document on stdout, straight, never through rich."""
    stream = streams.stdout()
    stream.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    stream.flush()


def error_line(message: str) -> None:
    """The one line a failed command leaves on stderr."""
    from rich.text import Text

    line = Text("error: ", style="bold red") + Text(" ".join(message.split()))
    err().print(line, soft_wrap=True)


def note(message: str) -> None:
    """A line for people on stderr, so stdout stays exact."""
    err().print(message, style="dim", highlight=False)


def setup_logging(level: int) -> None:
    handler: logging.Handler
    if _maybe_terminal() and (console := err()).is_terminal:
        from rich.logging import RichHandler

        handler = RichHandler(console=console, show_path=False, log_time_format="%H:%M:%S")
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("aiki")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _maybe_terminal() -> bool:
    """False where rich would find stderr is no terminal (no FORCE_COLOR or TTY_COMPATIBLE
    to say otherwise, and not a tty): there a worker need not import rich to learn it."""
    if "FORCE_COLOR" in os.environ or "TTY_COMPATIBLE" in os.environ:
        return True
    return sys.stderr.isatty()


def _status(status: RunStatus) -> Text:
    from rich.text import Text

    return Text(status.value, style=STYLES.get(status, "magenta"))


def _when(moment: datetime | None, zone: tzinfo | None = None) -> str:
    """A moment for people, in local time (or `zone`'s) with its offset from UTC, as in
    RFC 3339: `2026-12-03 09:00:00+01:00`. Without it a time read on a server in UTC, or
    by someone elsewhere, misleads."""
    if moment is None:
        return "-"
    return moment.astimezone(zone).isoformat(sep=" ", timespec="seconds")


def schedule_time(schedule: Schedule, moment: datetime) -> str:
    """A moment of a schedule's: in the time zone of its cron expression, else local."""
    return _when(moment, ZoneInfo(schedule.timezone) if schedule.cron is not None else None)


def _short_json(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run_panel(info: RunInfo) -> Panel:
    """A run's facts and its tasks, for `status`."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("run", info.id)
    facts.add_row("workflow", f"{info.workflow}@{info.version}")
    facts.add_row("status", _status(info.status) + _status_note(info))
    if info.due_at is not None and not info.status.terminal:
        facts.add_row("due", _when(info.due_at))
    if info.attempt > 1:
        facts.add_row("attempt", str(info.attempt))
    facts.add_row("created", _when(info.created_at))
    facts.add_row("updated", _when(info.updated_at))
    if info.parent_id:
        facts.add_row("parent", info.parent_id)
    if info.children:
        facts.add_row("children", ", ".join(info.children))
    if info.recoveries:
        facts.add_row("recoveries", str(info.recoveries))
    facts.add_row("input", _short_json(info.input))
    if info.status == RunStatus.COMPLETED:
        facts.add_row("result", _short_json(info.result))
    if info.error is not None:
        facts.add_row("error", Text(f"{info.error.type}: {info.error.message}", style="red"))
    body: list[Any] = [facts]
    if info.tasks:
        body.append(tasks_table(info))
    return Panel(Group(*body), title=f"run {info.id}", title_align="left", expand=False)


def _status_note(info: RunInfo) -> str:
    return " (cancel requested)" if info.cancel_requested else ""


def tasks_table(info: RunInfo) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="tasks", title_justify="left", box=None, pad_edge=False)
    for column in ("#", "task", "status", "attempts", "duration", "started"):
        table.add_column(
            column, justify="right" if column in ("#", "attempts", "duration") else "left"
        )
    for number, call in enumerate(info.tasks, start=1):
        duration = f"{call.duration_ms:.1f} ms" if call.duration_ms is not None else "-"
        table.add_row(
            str(number),
            call.name,
            Text(call.status, style=TASK_STYLES.get(call.status, "")),
            str(call.attempts),
            duration,
            _when(call.started_at),
        )
    return table


def runs_table(infos: Sequence[RunInfo | DamagedRun]) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False)
    refs = max(len(f"{info.workflow}@{info.version}") for info in infos)
    whole = {"id": max(len(info.id) for info in infos), "workflow": refs}  # never cut
    for column in ("id", "workflow", "status", "created", "updated"):
        table.add_column(column, no_wrap=column in whole, min_width=whole.get(column))
    for info in infos:
        if isinstance(info, DamagedRun):
            damaged = Text("damaged", style="bold red")
            table.add_row(info.id, f"{info.workflow}@{info.version}", damaged, "-", "-")
            continue
        table.add_row(
            info.id,
            f"{info.workflow}@{info.version}",
            _status(info.status) + _status_note(info),
            _when(info.created_at),
            _when(info.updated_at),
        )
    return table


def timeline(entries: Sequence[Entry], start: datetime) -> Table:
    """A run's journal as a timeline, for `history`."""
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column, justify in (("at", "left"), ("+s", "right"), ("event", "left"), ("detail", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for entry in entries:
        event, detail = _describe(entry)
        offset = f"{(entry.at - start).total_seconds():.3f}"
        table.add_row(_when(entry.at), offset, event, detail)
    return table


def _describe(entry: Entry) -> tuple[Text, str]:
    from rich.text import Text

    if isinstance(entry, StatusChanged):
        detail = entry.reason or ""
        if entry.until is not None:
            detail = f"until {_when(entry.until)}" + (f" ({detail})" if detail else "")
        if entry.error is not None:
            detail = f"{entry.error.type}: {entry.error.message}"
        elif entry.new == RunStatus.COMPLETED:
            detail = _short_json(entry.result, 120)
        return Text(f"{entry.old} → ") + _status(entry.new), detail
    if isinstance(entry, TaskStarted):
        return Text(f"▶ {entry.task}", style="blue"), _short_json(entry.input, 120)
    if isinstance(entry, TaskCompleted):
        return Text(f"✔ {entry.task}", style="green"), _short_json(entry.output, 120)
    if isinstance(entry, TaskFailed):
        again = f"; retry at {_when(entry.retry_at)}" if entry.retry_at else ""
        detail = f"{entry.error.type}: {entry.error.message}{again}"
        return Text(f"✘ {entry.task}", style="red"), detail
    if isinstance(entry, Recovered):
        return Text("recovered", style="yellow"), f"worker died; recovery {entry.count}"
    return _describe_wait(entry)


def _describe_wait(entry: Entry) -> tuple[Text, str]:
    """Sleeps, events and children in the timeline."""
    from rich.text import Text

    if isinstance(entry, SleepStarted):
        return Text(f"☾ sleep {entry.name}", style="magenta"), f"until {_when(entry.until)}"
    if isinstance(entry, SleepEnded):
        return Text(f"☀ sleep {entry.name}", style="magenta"), "woken" if entry.woken else "done"
    if isinstance(entry, EventWaited):
        limit = f"until {_when(entry.until)}" if entry.until else "no timeout"
        return Text(f"… wait {entry.name}", style="cyan"), limit
    if isinstance(entry, EventReceived):
        return Text(f"✉ {entry.name}", style="cyan"), _short_json(entry.data, 120)
    if isinstance(entry, EventTimedOut):
        return Text(f"⌛ {entry.name}", style="yellow"), "timed out"
    if isinstance(entry, ChildStarted):
        return Text("↳ child", style="blue"), f"{entry.child} {entry.workflow}@{entry.version}"
    if isinstance(entry, ChildEnded):
        return Text("↲ child", style="blue"), f"{entry.child} {entry.status}"
    return Text(entry.type), ""


def workflows_table(versions: Sequence[WorkflowVersion], tasks: dict[str, list[str]]) -> Table:
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("workflow", "version", "tasks", "module"):
        table.add_column(column)
    for version in versions:
        module = getattr(version.exec, "__module__", "").rpartition(".")[2]
        table.add_row(version.name, version.version, ", ".join(tasks[version.ref]), module)
    return table


def schedules_table(schedules: Sequence[Schedule]) -> Table:
    """The schedules, for `schedule list`."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False)
    for column in ("id", "workflow", "when", "overlap", "state", "next due", "last run"):
        table.add_column(column)
    for schedule in schedules:
        table.add_row(
            schedule.id,
            schedule.ref,
            schedule_rule(schedule),
            schedule.overlap,
            Text("paused", style="magenta") if schedule.paused else Text("active", style="green"),
            "-" if schedule.paused else schedule_time(schedule, schedule.next_due),
            schedule.last_run_id or "-",
        )
    return table


def schedule_rule(schedule: Schedule) -> str:
    """When a schedule fires, as its command line said: `0 9 * * * (Europe/Paris)`, `every 10m`."""
    if schedule.cron is not None:
        return f"{schedule.cron} ({schedule.timezone})"
    return f"every {_seconds(schedule.every or 0)}"


def _seconds(total: float) -> str:
    """A number of seconds as `1h30m`, `45s` or `0.5s`."""
    whole, rest = divmod(total, 1)
    if rest or total < 60:
        return f"{total:g}s"
    parts, left = [], int(whole)
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def doctor_report(report: Report, repaired: bool) -> None:
    """What `aiki doctor` found, each with how to fix it, then the verdict."""
    from rich.text import Text

    console = out()
    busy = f" ({len(report.busy)} busy: a worker is executing them)" if report.busy else ""
    console.print(f"checked {report.runs} runs in {report.store}{busy}", highlight=False)
    for finding in report.findings:
        console.print(_finding(finding), soft_wrap=True)
        if not finding.repaired:
            console.print(Text("    fix: ", style="dim") + Text(finding.fix), soft_wrap=True)
    left = report.remaining
    fixable = sum(finding.repairable for finding in left)
    if not left:
        console.print(Text("healthy", style="bold green"))
    else:
        hint = f"; `aiki doctor --repair` fixes {fixable}" if fixable and not repaired else ""
        console.print(Text(f"{len(left)} problem(s) remain{hint}", style="bold red"))


def _finding(finding: Finding) -> Text:
    from rich.text import Text

    if finding.repaired:
        return Text("repaired: ", style="green") + Text(finding.problem)
    if not finding.damage:
        return Text("note: ", style="yellow") + Text(finding.problem)
    return Text("damaged: ", style="bold red") + Text(finding.problem)
