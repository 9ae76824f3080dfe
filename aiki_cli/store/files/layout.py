"""The file store's layout on disk, and the readers of its names and records that the
store and its doctor share.

    <root>/
      run/<id>/run.json        the run's start record, written once (atomic)
      run/<id>/journal.jsonl   one entry per line, appended; results fsync'd
                               (the directory itself is flock'd by whoever executes the run)
      run/<id>/summary.json    derived: the run's state as of a journal offset (see summary)
      run/<id>/cancel|pause|wake   requests left for whoever executes the run
      run/<id>/inbox/<key>.json    mail for the run (events, news of children), until journaled
      run/<id>/refs/<key>      reference ids of events already received, for de-duplication
      run/<id>/timer           the name of the run's marker in timers/
      ready/<id>               marker (a hard link to the run's run.json): it needs a worker
                               (<id>.leaving while a worker takes it out of the queue)
      timers/<due>-<kind>-<id> empty marker: wake a run or fire a schedule at <due> (ms)
      schedules/<id>.json      a schedule
      index/created.log        "<id> <workflow>@<version>" per line, in creation order;
                               "<id> -" once the run was removed (gc)
      index/keys/<sha256>      the run id an idempotency key started
      workers/<id>.lock|.json  a live worker holds its lock; its json says who it is (roster)

Nothing scans `run/`: the worker lists `ready/` (only runs that need work) and the names
in `timers/` (sorted by due time, so it stops at the first one not due), `status` opens
one run's directory by id, and `list` reads `created.log` backwards from its end. Only
the holder of a run's lock writes its journal; everyone else leaves a request or mail
for the holder to act on, then queues the run.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from ...errors import RunDamaged
from ...model.entry import ENTRY_TYPES, Entry, parse_entry
from ...model.mail import MAIL_KEY as MAIL_KEY
from ...model.schedule import SCHEDULE_ID
from ...values.ids import RUN_ID
from ..base import REQUESTS, Request, Timer
from .formats import newer_entry
from .syncio import NotRegularFile, read_file, read_from, split_lines
from .syncio import lines_backwards as lines_backwards  # the store's `list` reads with it

REMOVED = "-"  # "<id> -" in index/created.log: the run was removed (no workflow's name)
LEAVING = ".leaving"  # ready/<id>.leaving: the run is being taken out of the queue


def timer_name(timer: Timer) -> str:
    millis = math.ceil(timer.due.timestamp() * 1000)  # never fire before the due time
    return f"{millis:015d}-{timer.kind}-{timer.target}"


_TIMER_NAME = re.compile(r"([0-9]{15})-(run|schedule)-(.+)")


def parse_timer(name: str) -> Timer | None:
    """The timer a name in timers/ stands for; None for any other name (a stray file)."""
    match = _TIMER_NAME.fullmatch(name)
    if match is None:
        return None
    millis, kind, target = match.groups()
    if not re.fullmatch(RUN_ID if kind == "run" else SCHEDULE_ID, target):
        return None
    try:
        due = datetime.fromtimestamp(int(millis) / 1000, UTC)
    except (ValueError, OverflowError, OSError):  # beyond the year 9999
        return None
    return Timer(due, kind, target)  # type: ignore[arg-type]


def timer_in(record: Path, folder: int | None = None) -> str | None:
    """The name of the timer in timers/ that `record` (a run's `timer`, a schedule's
    `<id>.timer`) points at; None when there is none. The name is followed only when it is
    one of that run's or schedule's timers: a run whose record names anything else (a path,
    another's timer) is damaged; a schedule's is rewritten or removed after this. Read
    relative to `folder`, the record's open directory, when there is one."""
    run_id = record.parent.name if record.name == "timer" else None
    try:
        data = read_file(record if folder is None else record.name, dir_fd=folder)
        name = data.decode(errors="replace").strip()
    except FileNotFoundError:
        return None
    except NotRegularFile as error:
        if run_id is None:
            return None
        raise damaged_file(run_id, record, error) from None
    timer = parse_timer(name)
    owner = ("run", run_id) if run_id is not None else ("schedule", record.stem)
    if timer is not None and (timer.kind, timer.target) == owner:
        return name
    if run_id is None:
        return None
    detail = f"{record} names {name[:80]!r}, which is not a timer of this run (never followed)"
    raise RunDamaged(run_id, detail, path=str(record))


def requests_at(folder: int, kinds: Iterable[Request] = REQUESTS) -> frozenset[str]:
    """The requests left in the run directory open as `folder`. Checked before every task:
    looked up relative to it, the kernel does not walk the run's whole path each time."""
    return frozenset(kind for kind in kinds if os.access(kind, os.F_OK, dir_fd=folder))


def requests_in(run_dir: Path) -> frozenset[str]:
    """The requests left in `run_dir`, for a caller that holds no claim of the run."""
    folder = os.open(run_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return requests_at(folder)
    finally:
        os.close(folder)


def mail_names(inbox: Path) -> list[str]:
    """The names of the letters in `inbox`: not the temp files of writes under way."""
    try:
        names = os.listdir(inbox)
    except FileNotFoundError:
        return []
    return [name for name in names if name.endswith(".json") and not name.startswith(".")]


def holder_if_readable(key_path: Path) -> str | None:
    with contextlib.suppress(NotRegularFile):
        return key_holder(key_path)
    return None


def key_holder(key_path: Path) -> str | None:
    """The id of the run an idempotency key names, or None. `NotRegularFile` when its
    record is anything but a file (a FIFO would block a plain read for ever)."""
    try:
        return read_file(key_path).decode(errors="replace").strip()
    except FileNotFoundError:
        return None


def parse_journal(run_id: str, path: Path, lines: list[bytes]) -> list[Entry]:
    entries = []
    for number, line in enumerate(lines, start=1):
        try:
            entries.append(parse_entry(line))
        except ValidationError as error:
            newer = newer_entry(run_id, str(path), line, number, ENTRY_TYPES)
            raise (newer or damaged_line(run_id, path, lines, number, error)) from error
    return entries


def journal_since(run_id: str, path: Path, cursor: int) -> tuple[list[Entry], int]:
    """The entries of the journal at `path` past byte `cursor`, and the offset after the
    last whole line (a line being written waits for a later read). `RunDamaged` for a
    line that is no entry, numbered as in the whole file."""
    try:
        lines, size = split_lines(read_from(path, cursor))
    except NotRegularFile as error:
        raise damaged_file(run_id, path, error) from None
    try:
        return parse_journal(run_id, path, lines), cursor + size
    except RunDamaged:
        all_lines, _ = split_lines(read_file(path))
        parse_journal(run_id, path, all_lines)  # raises, numbering the whole file's lines
        raise


def damaged_line(
    run_id: str, path: Path, lines: list[bytes], number: int, error: Exception
) -> RunDamaged:
    """Line `number` of the journal `lines` (read from `path`) is no journal entry."""
    offset = sum(len(line) + 1 for line in lines[: number - 1])
    detail = f"{path} line {number} (at byte {offset}) is not a journal entry ({reason(error)})"
    return RunDamaged(run_id, detail, path=str(path), line=number, offset=offset)


def damaged_spec(run_id: str, run_dir: Path, problem: str) -> RunDamaged:
    path = run_dir / "run.json"
    return RunDamaged(run_id, f"{path} {problem}", path=str(path))


def damaged_file(run_id: str, path: Path, error: NotRegularFile) -> RunDamaged:
    """The run's file at `path` is no regular file (a symlink, a FIFO)."""
    return RunDamaged(run_id, f"{path} {error.strerror}", path=str(path))


def reason(error: Exception) -> str:
    """What is wrong, in a few words: a validation error's first complaint."""
    if isinstance(error, ValidationError) and error.errors():
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        text = f"{where}: {first['msg']}" if where else first["msg"]
    else:
        text = str(error).strip() or type(error).__name__
    text = " ".join(text.split())
    return text if len(text) <= 160 else text[:159] + "…"


def ends_torn(fd: int) -> bool:
    """True when the file's last line has no newline: a write a crash cut short."""
    size = os.fstat(fd).st_size
    return size > 0 and os.pread(fd, 1, size - 1) != b"\n"
