"""Everything the CLI shows a person, through rich; machine output (`--json`) bypasses it.

Colour only on a terminal and never with NO_COLOR (rich's own rules); off a terminal,
lines are drawn as wide as the terminal looked at (`width`), not wrapped at 80 columns.

rich is slow to import, so each function imports what it draws with: `--json`
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

from ..errors import one_line
from ..model.status import RunStatus
from . import streams
from .width import width_off_terminal

if TYPE_CHECKING:
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from ..authoring.workflow import WorkflowVersion
    from ..model.runinfo import DamagedRun, ProgressInfo, RunInfo, TaskInfo
    from ..model.schedule import Schedule
    from ..model.waiting import WaitingFor
    from ..store.report import Finding, Report

STYLES = {
    RunStatus.PENDING: "cyan",
    RunStatus.RUNNING: "blue",
    RunStatus.COMPLETED: "green",
    RunStatus.FAILED: "red",
    RunStatus.CANCELLED: "yellow",
    RunStatus.PAUSED: "magenta",
}
TASK_STYLES = {"completed": "green", "failed": "red", "running": "blue", "interrupted": "yellow"}
LAST_TASKS = 20  # task rows `status` shows without --all


def _console(stderr: bool) -> Console:
    from rich.console import Console

    stream = sys.stderr if stderr else streams.stdout()
    width = None if stream.isatty() else width_off_terminal()
    # NO_COLOR asks for plain text (SPEC §6); rich alone would still print bold and dim.
    plain = bool(os.environ.get("NO_COLOR"))
    return Console(
        file=stream,
        width=width,
        soft_wrap=width is not None,
        color_system=None if plain else "auto",
    )


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

    line = Text("error: ", style="bold red") + Text(one_line(message))
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


def status_text(status: RunStatus) -> Text:
    from rich.text import Text

    return Text(status.value, style=STYLES.get(status, "magenta"))


FULL, SHORT = "full", "short"  # a moment whole, and one for a narrow list


def when(moment: datetime | None, zone: tzinfo | None = None, form: str = FULL) -> str:
    """A moment for people, in local time (or `zone`'s) with its offset from UTC, as in
    RFC 3339: `2026-12-03 09:00:00+01:00`. Without it a time read on a server in UTC, or
    by someone elsewhere, misleads. SHORT (`12-03 09:00`) is for a list too narrow."""
    if moment is None:
        return "-"
    local = moment.astimezone(zone)
    return (
        local.isoformat(sep=" ", timespec="seconds")
        if form == FULL
        else local.strftime("%m-%d %H:%M")
    )


def schedule_time(schedule: Schedule, moment: datetime) -> str:
    """A moment of a schedule's: in the time zone of its cron expression, else local."""
    return when(moment, ZoneInfo(schedule.timezone) if schedule.cron is not None else None)


def short_json(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run_panel(info: RunInfo, *, all_tasks: bool = False) -> Panel:
    """A run's facts, its last tasks (every one with `all_tasks`) and where it failed,
    for `status`."""
    from rich.console import Group
    from rich.panel import Panel

    body: list[Any] = [_facts(info)]
    shown = info.tasks if all_tasks else info.tasks[-LAST_TASKS:]
    if shown:
        if hidden := len(info.tasks) - len(shown):
            body.append(f"… {hidden} earlier tasks (--all)")
        body.append(tasks_table(shown, first=hidden + 1))
    body.extend(_tracebacks(info, shown))
    return Panel(Group(*body), title=f"run {info.id}", title_align="left", expand=False)


def _facts(info: RunInfo) -> Table:
    from rich.table import Table
    from rich.text import Text

    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column()
    facts.add_row("run", info.id)
    facts.add_row("workflow", f"{info.workflow}@{info.version}")
    facts.add_row("status", status_text(info.status) + _status_note(info))
    if info.waiting_for is not None:
        facts.add_row("waiting for", waiting_text(info.waiting_for))
    if info.progress is not None:
        facts.add_row("progress", progress_text(info.progress))
    if info.due_at is not None and not info.status.terminal:
        facts.add_row("due", when(info.due_at))
    if info.attempt > 1:
        facts.add_row("attempt", str(info.attempt))
    facts.add_row("created", when(info.created_at))
    facts.add_row("updated", when(info.updated_at))
    if info.parent_id:
        facts.add_row("parent", info.parent_id)
    if info.forked_from:
        facts.add_row("forked from", str(info.forked_from))
    if info.children:
        facts.add_row("children", ", ".join(info.children))
    if info.recoveries:
        facts.add_row("recoveries", str(info.recoveries))
    facts.add_row("input", short_json(info.input))
    if info.status == RunStatus.COMPLETED:
        facts.add_row("result", short_json(info.result))
    if info.error is not None:
        facts.add_row("error", Text(f"{info.error.type}: {info.error.message}", style="red"))
    return facts


def progress_text(progress: ProgressInfo) -> str:
    """The run's latest progress: `copied 40 of 100 (40%)`."""
    share = "" if progress.fraction is None else f" ({progress.fraction:.0%})"
    return f"{progress.message}{share}"


def waiting_text(wait: WaitingFor) -> str:
    """What a parked run waits for, in words: `event approved`, `sleep cool-off`."""
    return wait.describe()


def _tracebacks(info: RunInfo, shown: Sequence[TaskInfo]) -> list[Text]:
    """Where the shown failed tasks failed, and where the workflow's own code did."""
    from rich.text import Text

    blocks = [
        (f"traceback of task {call.name}", call.error.traceback)
        for call in shown
        if call.status in ("failed", "retrying") and call.error and call.error.traceback
    ]
    error = info.error
    if error is not None and error.traceback and error.type != "TaskFailed":
        blocks.append(("traceback of the workflow", error.traceback))
    # Wrapped, never cut at the panel's edge (a console off a terminal does not wrap).
    return [
        Text(f"{title}:\n", style="bold red", no_wrap=False, overflow="fold")
        + Text(text, no_wrap=False, overflow="fold")
        for title, text in blocks
    ]


def _status_note(info: RunInfo) -> str:
    return " (cancel requested)" if info.cancel_requested else ""


def tasks_table(calls: Sequence[TaskInfo], first: int = 1) -> Table:
    """Task calls as rows, numbered from `first`."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="tasks", title_justify="left", box=None, pad_edge=False)
    for column in ("#", "task", "status", "attempts", "duration", "started"):
        table.add_column(
            column, justify="right" if column in ("#", "attempts", "duration") else "left"
        )
    for number, call in enumerate(calls, start=first):
        duration = f"{call.duration_ms:.1f} ms" if call.duration_ms is not None else "-"
        table.add_row(
            str(number),
            call.name,
            Text(call.status, style=TASK_STYLES.get(call.status, "")),
            str(call.attempts),
            duration,
            when(call.started_at),
        )
    return table


REQUIRED = 3  # id, workflow and status are always shown, whole; the others give way
Column = tuple[str, list[Any], list[Any] | None]  # header, cells, the cells made shorter


def print_runs(infos: Sequence[RunInfo | DamagedRun]) -> None:
    """The runs, for `list`: ids and `workflow@version` never wrap nor are cut."""
    console = out()
    table = runs_table(infos, console.width)
    console.print(table, crop=False)


def runs_table(infos: Sequence[RunInfo | DamagedRun], width: int) -> Table:
    """The runs with the columns that fit in `width`: id, workflow and status always
    (wider than `width` if they must: they are never cut); then what a run waits for,
    when it was created and updated, each while it fits whole (dates shortened first)."""
    from rich.table import Table

    chosen = _fitting(_run_columns(infos), width)
    needed = sum(_width(header, cells) for header, cells in chosen) + 2 * (len(chosen) - 1)
    table = Table(box=None, pad_edge=False, width=needed if needed > width else None)
    for header, _ in chosen:
        table.add_column(header, no_wrap=True)
    for row in zip(*(cells for _, cells in chosen), strict=True):
        table.add_row(*row)
    return table


def _run_columns(infos: Sequence[RunInfo | DamagedRun]) -> list[Column]:
    from ..model.runinfo import RunInfo

    def dates(field: str, form: str) -> list[str]:  # a damaged run has none
        return [
            when(getattr(info, field), form=form) if isinstance(info, RunInfo) else "-"
            for info in infos
        ]

    return [
        ("id", [info.id for info in infos], None),
        ("workflow", [f"{info.workflow}@{info.version}" for info in infos], None),
        ("status", [_runstatus_text(info) for info in infos], None),
        ("waiting for", [_waiting_cell(info) for info in infos], None),
        ("created", dates("created_at", FULL), dates("created_at", SHORT)),
        ("updated", dates("updated_at", FULL), dates("updated_at", SHORT)),
    ]


def _runstatus_text(info: RunInfo | DamagedRun) -> Text:
    from rich.text import Text

    from ..model.runinfo import DamagedRun

    if isinstance(info, DamagedRun):
        return Text("damaged", style="bold red")
    return status_text(info.status) + _status_note(info)


def _waiting_cell(info: RunInfo | DamagedRun) -> str:
    from ..model.runinfo import RunInfo

    wait = info.waiting_for if isinstance(info, RunInfo) else None
    if wait is None:
        return "-"
    if wait.kind == "retry":
        return f"retry {wait.name}" if wait.name else "retry"
    if wait.kind == "start":
        return "start"
    return f"{wait.kind} {wait.child or wait.name}"


def _width(header: str, cells: Sequence[Any]) -> int:
    """A column's natural width: its widest cell or its header."""
    from rich.cells import cell_len

    return max([cell_len(str(cell)) for cell in cells] + [len(header)])


def _fitting(columns: Sequence[Column], width: int) -> list[tuple[str, list[Any]]]:
    """The required columns, then each other one, in order, that fits whole beside them,
    as it is or made shorter (the waiting column only when a run waits)."""
    chosen = [(header, cells) for header, cells, _ in columns[:REQUIRED]]
    used = sum(_width(header, cells) for header, cells in chosen) + 2 * (REQUIRED - 1)
    for header, cells, shorter in columns[REQUIRED:]:
        if all(cell == "-" for cell in cells):
            continue
        for variant in (cells, shorter):
            if variant is not None and used + 2 + _width(header, variant) <= width:
                chosen.append((header, variant))
                used += 2 + _width(header, variant)
                break
    return chosen


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
