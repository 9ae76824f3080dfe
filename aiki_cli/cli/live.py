"""The live progress line (issue 19): while `start --wait`, `wait` or `worker` executes or
waits for runs, stderr shows each run's id, tasks done, the task now executing, retries,
what it waits for, its progress and the time since it started; it disappears when they
end (the command's own summary follows).

Only on a terminal: never on stdout, never with `--json`, never when stderr is piped. In
CI (`CI` set) there is no live line; a run's status changes are said in one plain line
each instead. The line follows the journal with the same incremental read as `wait`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from ..client import Client
from ..errors import AikiError
from ..model.entry import Entry, StatusChanged, TaskCompleted, TaskFailed, TaskStarted
from ..model.runinfo import RunInfo
from ..model.status import RunStatus
from ..store.tail import Tail
from . import views

if TYPE_CHECKING:
    from rich.console import Console

Mode = Literal["live", "plain"]
EVERY = 0.1  # seconds between looks at the journal, and redraws
MAX_LINES = 10  # runs a worker's live lines show at once


def mode(as_json: bool) -> Mode | None:
    """How to show progress here: a live line on a terminal, plain lines in CI, or none."""
    if as_json:
        return None
    if os.environ.get("CI"):
        return "plain"
    return "live" if sys.stderr.isatty() else None


class RunLine:
    """One run followed for its line: its journal's tail, and what its new entries add
    up to (tasks done, retries, the calls now executing), counted as they arrive."""

    def __init__(self, tail: Tail, now: Callable[[], datetime]) -> None:
        self.tail = tail
        self.now = now
        self.done = 0
        self.retries = 0
        self.executing: dict[tuple[str, str], str] = {}

    def read(self) -> RunInfo:
        self.feed(self.tail.read())
        return self.tail.info

    def feed(self, entries: Iterable[Entry]) -> None:
        for entry in entries:
            if isinstance(entry, StatusChanged) and entry.new == RunStatus.RUNNING:
                self.executing.clear()  # calls a dead worker left open are not executing
            elif isinstance(entry, TaskStarted):
                self.executing[entry.task, entry.hash] = entry.task
            elif isinstance(entry, TaskCompleted | TaskFailed):
                self.executing.pop((entry.task, entry.hash), None)
                self.done += isinstance(entry, TaskCompleted)
                self.retries += isinstance(entry, TaskFailed) and entry.retry_at is not None

    def text(self, info: RunInfo) -> str:
        done = f"{self.done} task{'' if self.done == 1 else 's'} done"
        parts = [f"run {info.id}", info.status.value, done]
        if self.executing and info.status == RunStatus.RUNNING:
            parts.append("now " + ", ".join(sorted(set(self.executing.values()))))
        if self.retries:
            parts.append(f"{self.retries} {'retry' if self.retries == 1 else 'retries'}")
        if info.waiting_for is not None:
            parts.append("waiting for " + views.waiting_text(info.waiting_for))
        if info.progress is not None:
            parts.append(views.progress_text(info.progress))
        elapsed = max(0.0, (self.now() - info.created_at).total_seconds())
        parts.append(f"{elapsed:.1f}s")
        return " · ".join(parts)


class Display:
    """Where the lines go: a transient rich Live on stderr, or plain lines on a change."""

    def __init__(self, how: Mode) -> None:
        self.how = how
        self.said: dict[str, RunStatus] = {}
        self._live = None
        if how == "live":
            from rich.live import Live

            self._live = Live(console=_console(), transient=True, auto_refresh=False)
            self._live.start()

    def show(self, lines: list[tuple[RunInfo, str]]) -> None:
        if self._live is not None:
            from rich.text import Text

            texts = [text for _, text in lines[:MAX_LINES]]
            if len(lines) > MAX_LINES:
                texts.append(f"… and {len(lines) - MAX_LINES} more runs")
            self._live.update(Text("\n".join(texts)), refresh=True)
            return
        for info, _ in lines:
            if self.said.get(info.id) != info.status:
                print(f"run {info.id}: {_plain_state(info)}", file=sys.stderr, flush=True)
        self.said = {info.id: info.status for info, _ in lines}  # runs still shown only

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()


@contextlib.asynccontextmanager
async def following(client: Client, run_id: str, as_json: bool) -> AsyncIterator[None]:
    """Show the run's line while the body waits for it or executes it."""
    how = mode(as_json)
    if how is None:
        yield
        return
    line = RunLine(client.tail(run_id), client.clock.now)
    async with _showing(how, lambda: [line]):
        yield


@contextlib.asynccontextmanager
async def showing_runs(
    client: Client, how: Mode | None, executing: Callable[[], list[str]]
) -> AsyncIterator[None]:
    """Show a line for each run `executing()` names (a worker's), while the body runs."""
    if how is None:
        yield
        return
    lines: dict[str, RunLine] = {}

    def current() -> list[RunLine]:
        ids = executing()
        for gone in set(lines) - set(ids):
            del lines[gone]
        for run_id in ids:
            lines.setdefault(run_id, RunLine(client.tail(run_id), client.clock.now))
        return [lines[run_id] for run_id in ids]

    async with _showing(how, current):
        yield


@contextlib.asynccontextmanager
async def _showing(how: Mode, lines: Callable[[], list[RunLine]]) -> AsyncIterator[None]:
    display = Display(how)
    drawing = asyncio.ensure_future(_draw(display, lines))
    try:
        yield
    finally:
        drawing.cancel()
        await asyncio.gather(drawing, return_exceptions=True)
        if how == "plain":
            _draw_once(display, lines)  # the state the runs ended in, said once
        display.close()


async def _draw(display: Display, lines: Callable[[], list[RunLine]]) -> None:
    while True:
        _draw_once(display, lines)
        await asyncio.sleep(EVERY)


def _draw_once(display: Display, lines: Callable[[], list[RunLine]]) -> None:
    """Read what each run appended and show it. A run that cannot be read is left off:
    the command that waits for it says what is wrong."""
    shown = []
    for line in lines():
        with contextlib.suppress(AikiError):
            info = line.read()
            shown.append((info, line.text(info)))
    display.show(shown)


def _plain_state(info: RunInfo) -> str:
    if info.waiting_for is not None:
        return f"{info.status} (waiting for {views.waiting_text(info.waiting_for)})"
    return str(info.status)


def _console() -> Console:
    """The console the worker's log lines go through, if it has one, so that they print
    above the live line instead of through it."""
    for handler in logging.getLogger("aiki").handlers:
        console = getattr(handler, "console", None)
        if console is not None:
            return console  # type: ignore[no-any-return]
    return views.err()
