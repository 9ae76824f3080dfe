"""A run's summary, kept beside its journal (`summary.json`) so reading a long run's state
folds only the entries appended since, not its whole history. Its task calls are kept
apart (`summary-tasks.json`): `list`, which shows none, does not read them.

It is derived data: it records how many bytes of the journal it folded (`offset`) and a
hash of the bytes just before that point, and it is used only while the journal still
holds those bytes; otherwise it is ignored (and rewritten), never trusted over the journal.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections import defaultdict, deque
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ...model.entry import Entry
from ...model.journal import Calls, Fold
from ...model.runinfo import RunInfo, TaskInfo
from ...model.waiting import Waits
from .syncio import atomic_write, open_regular, read_file

SUMMARY = "summary.json"
TASKS = "summary-tasks.json"
SUMMARY_FORMAT = 1
# A reader that folded at least this many journal lines past the summary writes a new one.
SUMMARY_EVERY = 1000
CHECKED = 4096  # bytes before `offset` whose hash the summary keeps

OpenCalls = list[tuple[str, str, list[int]]]  # task, hash, indexes into `info.tasks`


class Summary(BaseModel):
    model_config = ConfigDict(defer_build=True)

    format: int = SUMMARY_FORMAT
    offset: int  # journal bytes folded, a whole number of lines
    check: str  # sha256 of the (up to) `CHECKED` journal bytes before `offset`
    info: RunInfo  # without its tasks, which are in `SummaryTasks`
    tasks: int = 0
    open_calls: OpenCalls = []
    retrying: OpenCalls = []
    waits: list[Entry] = []  # the entries of the waits still open (see `Waits.kept`)

    @classmethod
    def of(cls, fold: Fold, offset: int, before: bytes) -> tuple[Summary, SummaryTasks]:
        """The summary of `fold`, which folded the journal up to `offset`; `before` holds
        the journal's bytes up to `offset` (at least its last `CHECKED`)."""
        index = {id(call): number for number, call in enumerate(fold.info.tasks)}
        info = fold.info.model_copy(update={"cancel_requested": False, "tasks": []})
        summary = cls(
            offset=offset,
            check=check_of(before),
            info=info,
            tasks=len(fold.info.tasks),
            open_calls=_dump_calls(fold.open_calls, index),
            retrying=_dump_calls(fold.retrying, index),
            waits=fold.waits.kept(),
        )
        return summary, SummaryTasks(offset=offset, check=summary.check, tasks=fold.info.tasks)

    def matches(self, before: bytes) -> bool:
        """Whether the journal, whose bytes up to `offset` end with `before`, is still the
        one this summary folded."""
        return self.format == SUMMARY_FORMAT and check_of(before) == self.check

    def fold(self, tasks: SummaryTasks | None) -> Fold | None:
        """The fold this summary kept, ready for the entries after `offset` (it goes on
        from this summary's own `info`): with `tasks`, or without any task calls when
        None. None when `tasks` belong to another summary."""
        info, waits = self.info, Waits.of_entries(self.waits)
        if tasks is None:
            return Fold(info, defaultdict(deque), defaultdict(deque), waits)
        if (tasks.offset, tasks.check, len(tasks.tasks)) != (self.offset, self.check, self.tasks):
            return None
        info.tasks = tasks.tasks
        open_calls, retrying = _load_calls(self.open_calls, info), _load_calls(self.retrying, info)
        return Fold(info, open_calls, retrying, waits)


class SummaryTasks(BaseModel):
    """The task calls of a summary, and the journal offset it covers."""

    model_config = ConfigDict(defer_build=True)

    offset: int
    check: str
    tasks: list[TaskInfo]


def check_of(before: bytes) -> str:
    return hashlib.sha256(before[-CHECKED:]).hexdigest()


def _dump_calls(calls: Calls, index: dict[int, int]) -> OpenCalls:
    return [
        (task, hash, [index[id(call)] for call in queue])
        for (task, hash), queue in calls.items()
        if queue
    ]


def _load_calls(dumped: OpenCalls, info: RunInfo) -> Calls:
    calls: Calls = defaultdict(deque)
    for task, hash, numbers in dumped:
        calls[task, hash] = deque(info.tasks[number] for number in numbers)
    return calls


def summary_and_tail(
    run_dir: Path, journal: Path, tasks: bool = True
) -> tuple[Fold | None, int, bytes, bytes]:
    """The fold the run's summary kept (with its tasks, if `tasks`) if it still matches
    the journal, the offset it covers, the journal's bytes after that offset, and the (up
    to) `CHECKED` bytes before it. (None, 0, the whole journal, b"") when none matches."""
    try:
        fd = open_regular(journal, os.O_RDONLY)
    except FileNotFoundError:
        return None, 0, b"", b""
    with os.fdopen(fd, "rb") as file:
        saved = _load(run_dir / SUMMARY, Summary)
        if saved is not None and 0 < saved.offset <= os.fstat(file.fileno()).st_size:
            file.seek(max(0, saved.offset - CHECKED))
            before = file.read(saved.offset - file.tell())
            if before.endswith(b"\n") and saved.matches(before):
                calls = _load(run_dir / TASKS, SummaryTasks) if tasks else None
                fold = None if tasks and calls is None else saved.fold(calls)
                if fold is not None:
                    return fold, saved.offset, file.read(), before
        file.seek(0)
        return None, 0, file.read(), b""


def summary_matches(run_dir: Path) -> bool:
    """Whether the run's summary is one readers use: it and its tasks match the journal."""
    return summary_and_tail(run_dir, run_dir / "journal.jsonl")[0] is not None


def save_summary(run_dir: Path, summary: tuple[Summary, SummaryTasks]) -> None:
    """Write the summary, its tasks first: a crash in between leaves a summary whose tasks
    do not match it, which readers ignore."""
    state, calls = summary
    with contextlib.suppress(OSError):  # derived data: a reader may not be allowed to write
        atomic_write(run_dir / TASKS, calls.model_dump_json().encode())
        atomic_write(run_dir / SUMMARY, state.model_dump_json().encode())


_M = TypeVar("_M", Summary, SummaryTasks)


def _load(path: Path, model: type[_M]) -> _M | None:
    try:
        return model.model_validate_json(read_file(path))
    except (OSError, ValidationError):
        return None  # none yet, or not one this aiki can read: fold the whole journal
