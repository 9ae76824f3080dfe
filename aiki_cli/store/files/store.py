"""The file store: one directory per run, human-readable JSON, the journal as source of truth.

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
      index/created.log        "<id> <workflow>@<version>" per line, in creation order
      index/keys/<sha256>      the run id an idempotency key started
      workers/<id>.lock|.json  a live worker holds its lock; its json says who it is (roster.py)

Nothing scans `run/`: the worker lists `ready/` (only runs that need work) and the names
in `timers/` (sorted by due time, so it stops at the first one not due), `status` opens
one run's directory by id, and `list` reads `created.log` backwards from its end. Only
the holder of a run's lock writes its journal; everyone else leaves a request or mail
for the holder to act on, then queues the run.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import logging
import math
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from pydantic import ValidationError

from ...entry import ENTRY_TYPES, Entry, dump_entry, parse_entry
from ...errors import AikiError, BadInput, RunDamaged, RunNotFound, StoreUnwritable
from ...ids import RUN_ID, check_run_id
from ...journal import Fold, summarize
from ...record import FORMAT, RunInfo, RunSpec
from ...schedule import SCHEDULE_ID, Schedule
from ..base import REQUESTS, Claim, Mail, Request, RunRef, Timer
from .formats import newer_entry, newer_spec
from .lock import FileLock, try_lock_dir
from .roster import Roster
from .summary import CHECKED, SUMMARY, SUMMARY_EVERY, TASKS, Summary, SummaryTasks
from .syncio import (
    FILE_MODE,
    AppendLog,
    NotRegularFile,
    atomic_create,
    atomic_write,
    fsync_dir,
    make_dirs,
    open_regular,
    read_file,
    read_lines,
    split_lines,
    sync_together,
    write_all,
    write_synced,
)

log = logging.getLogger("aiki.store")

_CHUNK = 64 * 1024
_MAIL_KEY = re.compile(r"[A-Za-z0-9_-]{1,128}")
LEAVING = ".leaving"  # ready/<id>.leaving: the run is being taken out of the queue
# A listing of timers/ is reused while the folder's change time stays as it was, except one
# taken within this many seconds of that change: a timer added in the same tick of the file
# system's clock, after the listing, leaves the change time as it was.
_SETTLED = 1.0
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
# How the file system says it cannot take a write: these become `StoreUnwritable`.
_WRITE_ERRORS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG, errno.EACCES, errno.EPERM}
)


class _Located(Protocol):
    location: str


_S = TypeVar("_S", bound=_Located)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _writes(method: Callable[Concatenate[_S, _P], _R]) -> Callable[Concatenate[_S, _P], _R]:
    """Report the file system refusing a write (a full disk, say) as `StoreUnwritable`."""

    @functools.wraps(method)
    def writing(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(self, *args, **kwargs)
        except OSError as error:
            if error.errno not in _WRITE_ERRORS:
                raise
            raise StoreUnwritable(self.location, error) from error

    return writing


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)
        self._runs = root / "run"
        self._laid_out = False
        self.roster = Roster(root / "workers")
        self._strays: set[str] = set()
        self._timers: tuple[tuple[int, int, int], list[str]] | None = None

    # -- layout ---------------------------------------------------------------------

    def _layout(self) -> None:
        if not self._laid_out:
            for sub in ("run", "ready", "timers", "schedules", "index/keys", "tmp", "workers"):
                make_dirs(self.root / sub)
            self._laid_out = True

    def _run_dir(self, run_id: str) -> Path:
        return self._runs / check_run_id(run_id)

    def _existing_run_dir(self, run_id: str) -> Path:
        run_dir = self._run_dir(run_id)
        if not os.path.lexists(run_dir / "run.json"):  # not is_file(): a FIFO is damage
            raise RunNotFound(run_dir.name, self.location)
        return run_dir

    # -- creating -------------------------------------------------------------------

    @_writes
    def create_run(self, spec: RunSpec) -> RunSpec:
        key_path = self._key_path(spec)
        if key_path is not None and (existing := self._run_for_key(key_path)) is not None:
            return existing
        self._layout()
        run_dir = self._run_dir(spec.id)
        try:
            self._stage(spec, run_dir)
            return spec if key_path is None else self._take_key(spec, key_path)
        except OSError:
            # A full disk, say: take back what this start wrote, so no half-made run shows
            # (unless a worker already took the run's key for it, and may be executing it).
            if key_path is None or _holder_if_readable(key_path) != spec.id:
                self._discard(spec.id)
            raise

    def _stage(self, spec: RunSpec, run_dir: Path) -> None:
        """Write the run's start record and its empty journal in tmp/, list and queue it,
        then move it into run/ whole: that rename is the start's one moment of truth.

        A start killed before it leaves a listing and a ready marker naming no run, which
        `list` and the workers pass over; one killed after it has a run that a worker finds
        in ready/. The marker is a hard link to the staged run.json, which the rename keeps.
        """
        staging = self.root / "tmp" / spec.id
        make_dirs(staging)
        write_synced(staging / "run.json", spec.model_dump_json(indent=2).encode() + b"\n")
        os.close(os.open(staging / "journal.jsonl", _CREATE, FILE_MODE))
        fsync_dir(staging)
        self._log_created(spec)
        with contextlib.suppress(FileExistsError):
            os.link(staging / "run.json", self.root / "ready" / spec.id)
        fsync_dir(self.root / "ready")
        os.rename(staging, run_dir)
        fsync_dir(run_dir.parent)

    def _take_key(self, spec: RunSpec, key_path: Path) -> RunSpec:
        """Record the run as its key's (the keyed start's moment of truth); when another
        run holds the key, discard this one, which no worker executes, and return that run.
        A worker may have taken the key for this run already (its start was slow, or died)."""
        if atomic_create(key_path, spec.id.encode()) or _key_holder(key_path) == spec.id:
            return spec
        self._discard(spec.id)
        existing = self._run_for_key(key_path)
        assert existing is not None
        return existing

    def _discard(self, run_id: str) -> None:
        """Remove a run nobody was given the id of: out of the queue, then its files."""
        (self.root / "ready" / run_id).unlink(missing_ok=True)
        shutil.rmtree(self._runs / run_id, ignore_errors=True)
        shutil.rmtree(self.root / "tmp" / run_id, ignore_errors=True)

    def _keyed_elsewhere(self, spec: RunSpec, entries: list[Entry]) -> bool:
        """Whether `spec` is a keyed run that never began and whose key names another run
        (its start lost the race for the key, or died before taking it and was repeated).
        A keyed run that never began and whose key names no run yet gets it here: whoever
        takes the key first (its start, or the worker about to execute it) decides."""
        key_path = self._key_path(spec)
        if key_path is None or entries:
            return False
        try:
            holder = _key_holder(key_path)
            if holder is None and atomic_create(key_path, spec.id.encode()):
                return False
            return (holder or _key_holder(key_path)) != spec.id
        except NotRegularFile as error:
            raise _damaged_file(spec.id, key_path, error) from None

    def _key_path(self, spec: RunSpec) -> Path | None:
        if spec.idempotency_key is None:
            return None
        digest = hashlib.sha256(f"{spec.workflow}\0{spec.idempotency_key}".encode()).hexdigest()
        return self.root / "index" / "keys" / digest

    def _run_for_key(self, key_path: Path) -> RunSpec | None:
        try:
            run_id = _key_holder(key_path)
        except NotRegularFile as error:
            raise AikiError(
                f"the idempotency key's record {error}; `aiki doctor --repair` replaces it"
            ) from None
        if run_id is None:
            return None
        spec, entries = self.read_run(run_id)
        if not entries and not self.is_ready(run_id) and not self._parked_at_start(run_id):
            self._index(spec)  # a start of an older aiki died between the key and the queue
        return spec

    def _parked_at_start(self, run_id: str) -> bool:
        """A worker took the delayed run out of the queue until it is due: it has a timer
        and no journal entry yet. Its start was complete, so nothing is to be redone."""
        return (self._runs / run_id / "timer").exists()

    def _index(self, spec: RunSpec) -> None:
        self._log_created(spec)
        self._set_ready(spec.id, True)

    def _log_created(self, spec: RunSpec) -> None:
        """Add the run to index/created.log, which `list` reads."""
        fd = open_regular(self.root / "index" / "created.log", os.O_RDWR | os.O_APPEND | os.O_CREAT)
        try:
            # After a crash cut the last line short, start a new one rather than extend it.
            lead = b"\n" if _ends_torn(fd) else b""
            write_all(fd, lead + f"{spec.id} {spec.ref}\n".encode())
        finally:
            os.close(fd)

    # -- reading --------------------------------------------------------------------

    def read_run(self, run_id: str) -> tuple[RunSpec, list[Entry]]:
        run_dir = self._existing_run_dir(run_id)
        journal = run_dir / "journal.jsonl"
        try:
            lines, _ = read_lines(journal)
        except NotRegularFile as error:
            raise _damaged_file(run_id, journal, error) from None
        return self._read_spec(run_dir, run_id), _parse_journal(run_id, journal, lines)

    def read_summary(self, run_id: str, *, tasks: bool = True) -> RunInfo:
        """The run's state, folding only the journal past its summary (see `summary`); a
        reader that had to fold many lines leaves a new summary for the next one. Without
        `tasks`, the state holds no task calls, and the summary's are not read."""
        run_dir = self._existing_run_dir(run_id)
        spec = self._read_spec(run_dir, run_id)
        journal = run_dir / "journal.jsonl"
        try:
            saved, start, data, before = _summary_and_tail(run_dir, journal, tasks)
        except NotRegularFile as error:
            raise _damaged_file(run_id, journal, error) from None
        lines, size = split_lines(data)
        try:
            entries = _parse_journal(run_id, journal, lines)
        except RunDamaged:
            if saved is None:
                raise
            return summarize(*self.read_run(run_id))  # raises, with the whole file's lines
        fold = Fold.start(spec) if saved is None else saved
        for entry in entries:
            fold.feed(entry)
        if (tasks or saved is None) and len(lines) >= SUMMARY_EVERY:
            _save_summary(run_dir, Summary.of(fold, start + size, before + data[:size]))
        if not tasks:
            fold.info.tasks = []
        return fold.result()

    def _read_spec(self, run_dir: Path, run_id: str, folder: int | None = None) -> RunSpec:
        """The run's spec; read relative to `folder`, the run directory's open descriptor,
        when there is one."""
        name = run_dir / "run.json" if folder is None else "run.json"
        data = b""
        try:
            data = read_file(name, dir_fd=folder)
            spec = RunSpec.model_validate_json(data)
        except FileNotFoundError:
            raise RunNotFound(run_dir.name, self.location) from None
        except (OSError, ValidationError) as error:
            newer = newer_spec(run_id, str(run_dir / "run.json"), data, FORMAT)
            if newer is not None:
                raise newer from error
            raise _damaged_spec(run_id, run_dir, f"cannot be read ({reason(error)})") from error
        path = str(run_dir / "run.json")
        newer = newer_spec(run_id, path, data, FORMAT) if spec.format > FORMAT else None
        if newer is not None:
            raise newer
        if spec.id != run_dir.name:
            raise _damaged_spec(run_id, run_dir, f"holds run {spec.id!r}, not {run_dir.name}")
        return spec

    def list_runs(self) -> Iterator[RunRef]:
        seen: set[str] = set()
        for line in _lines_backwards(self.root / "index" / "created.log"):
            run_id, _, ref = line.decode(errors="replace").partition(" ")
            workflow, _, version = ref.partition("@")
            if RUN_ID.fullmatch(run_id) and run_id not in seen:  # not a torn fragment
                seen.add(run_id)
                yield RunRef(run_id, workflow, version)

    def ready_runs(self) -> list[str]:
        try:
            names = os.listdir(self.root / "ready")
        except FileNotFoundError:
            return []
        # A run being taken out of the queue (`_leave_queue`) is still queued.
        queued = {name.removesuffix(LEAVING) for name in names if not name.startswith(".")}
        strays = {name for name in queued if not RUN_ID.fullmatch(name)}
        for name in strays:
            self._stray(f"ready/{name}", "it names no run")
        return sorted(queued - strays)

    def is_ready(self, run_id: str) -> bool:
        marker = os.path.join(self.root, "ready", run_id)
        return os.access(marker, os.F_OK) or os.access(marker + LEAVING, os.F_OK)

    def requests(self, run_id: str) -> frozenset[str]:
        return requests_in(self._existing_run_dir(run_id))

    # -- acting on runs -------------------------------------------------------------

    @_writes
    def claim(self, run_id: str) -> FileClaim | None:
        run_dir = self._run_dir(run_id)
        try:
            lock = try_lock_dir(run_dir)
        except OSError as error:
            if os.path.islink(run_dir):  # ELOOP, or ENOTDIR (O_DIRECTORY looks first)
                what = "is a symbolic link, which aiki never follows"
                link = NotRegularFile(errno.ELOOP, what, str(run_dir))
                raise _damaged_file(run_dir.name, run_dir, link) from None
            if isinstance(error, FileNotFoundError | NotADirectoryError):
                self._not_there(run_dir)
                return None
            raise
        if lock is None:
            return None
        journal = None
        try:
            spec = self._read_spec(run_dir, run_id, lock.fd)
            _timer_in(run_dir / "timer", lock.fd)  # checked before anything acts on the run
            try:
                journal = AppendLog(run_dir / "journal.jsonl", dir_fd=lock.fd)
            except NotRegularFile as error:
                raise _damaged_file(run_id, run_dir / "journal.jsonl", error) from None
            lines, size = split_lines(journal.read())
            entries = _parse_journal(run_id, journal.path, lines)
            journal.cut_to(size)  # drop a torn last line before appending after it
            if self._keyed_elsewhere(spec, entries):
                journal.close()
                lock.release()
                self._discard(run_id)
                return None
            return FileClaim(self, run_dir, spec, entries, lock, journal)
        except BaseException:
            if journal is not None:
                journal.close()
            lock.release()
            raise

    def _not_there(self, run_dir: Path) -> None:
        """Claiming a run whose directory is missing: nothing to claim yet while a start is
        moving it in (its staging is in tmp/); else `RunNotFound`, and its ready marker, if
        any, names no run and goes."""
        if (self.root / "tmp" / run_dir.name).exists():
            return
        if not run_dir.exists():  # looked at again: the start may have moved it in since
            (self.root / "ready" / run_dir.name).unlink(missing_ok=True)
            raise RunNotFound(run_dir.name, self.location)

    def flush_together(self, claims: list[Claim]) -> bool:
        journals = [claim._journal for claim in claims if isinstance(claim, FileClaim)]
        return len(journals) == len(claims) and sync_together(journals)

    @_writes
    def request(self, run_id: str, kind: Request) -> None:
        run_dir = self._existing_run_dir(run_id)
        atomic_create(run_dir / kind, b"")
        self._set_ready(run_dir.name, True)  # a parked run needs a worker to see the request

    @_writes
    def post(self, run_id: str, mail: Mail) -> bool:
        run_dir = self._existing_run_dir(run_id)
        if (run_dir / "refs" / mail.key).exists():
            return False
        # Queued first too: a sender killed once its letter is in leaves the run queued.
        self._set_ready(run_dir.name, True)
        make_dirs(run_dir / "inbox")
        posted = atomic_create(
            run_dir / "inbox" / f"{mail.key}.json", mail.model_dump_json().encode()
        )
        # Queued again (a worker may have taken the run out meanwhile), even when the
        # letter was there: its poster may have died before queueing it.
        self._set_ready(run_dir.name, True)
        return posted

    def posted(self, run_id: str, key: str) -> bool:
        if not _MAIL_KEY.fullmatch(key):
            raise ValueError(f"{key!r} is not a mail key")
        run_dir = self._existing_run_dir(run_id)
        return (run_dir / "refs" / key).exists() or (run_dir / "inbox" / f"{key}.json").exists()

    @_writes
    def mark_ready(self, run_id: str) -> None:
        self._set_ready(self._existing_run_dir(run_id).name, True)

    # -- timers and schedules -------------------------------------------------------

    def _timer_names(self) -> list[str]:
        """The names in timers/, sorted: listed again only when the folder changed, so an
        idle worker polling a hundred thousand sleepers stats one folder per pass."""
        folder = self.root / "timers"
        try:
            stamp = _folder_stamp(folder)  # before listing: a change meanwhile shows next time
        except FileNotFoundError:
            return []
        if self._timers is not None and self._timers[0] == stamp:
            return self._timers[1]
        try:
            names = sorted(n for n in os.listdir(folder) if not n.startswith("."))
        except FileNotFoundError:
            return []
        settled = time.time() - stamp[2] / 1e9 >= _SETTLED
        self._timers = (stamp, names) if settled else None
        return names

    def due_timers(self, now: datetime) -> list[Timer]:
        due = []
        for name in self._timer_names():
            timer = _parse_timer(name)
            if timer is None:
                self._stray(f"timers/{name}", "it is not a timer's name")
                continue
            if timer.due > now:
                break
            due.append(timer)
        return due

    def next_due(self) -> datetime | None:
        timers = (_parse_timer(name) for name in self._timer_names())
        return next((timer.due for timer in timers if timer is not None), None)

    @_writes
    def clear_timer(self, timer: Timer) -> None:
        (self.root / "timers" / _timer_name(timer)).unlink(missing_ok=True)

    def _replace_timer(self, record: Path, timer: Timer | None) -> None:
        """Point `record` (the file naming a run's or schedule's timer) at `timer`: the new
        marker first, then the record, then the old marker goes. A process dying at any
        point leaves a marker that fires (perhaps early, which firing checks), never none."""
        old = _timer_in(record)
        if timer is None:
            if old is not None:
                (self.root / "timers" / old).unlink(missing_ok=True)
            record.unlink(missing_ok=True)
            return
        self._layout()
        name = _timer_name(timer)
        with contextlib.suppress(FileExistsError):
            os.close(
                os.open(
                    self.root / "timers" / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE
                )
            )
        if name != old:
            atomic_write(record, name.encode())
        if old is not None and old != name:
            (self.root / "timers" / old).unlink(missing_ok=True)

    def _armed(self, record: Path) -> bool:
        name = _timer_in(record)
        return name is not None and os.access(self.root / "timers" / name, os.F_OK)

    def _schedule_path(self, schedule_id: str) -> Path:
        if not re.fullmatch(SCHEDULE_ID, schedule_id):
            raise BadInput(f"{schedule_id!r} is not a schedule id")
        return self.root / "schedules" / f"{schedule_id}.json"

    @_writes
    def save_schedule(self, schedule: Schedule) -> None:
        """The timer first when there is one, so that a schedule on file is never active
        without it: a save killed in between leaves at most a marker that fires early."""
        self._layout()
        path = self._schedule_path(schedule.id)
        timer = None if schedule.paused else Timer(schedule.next_due, "schedule", schedule.id)
        if timer is not None:
            self._replace_timer(path.with_suffix(".timer"), timer)
        atomic_write(path, schedule.model_dump_json(indent=2).encode() + b"\n")
        if timer is None:
            self._replace_timer(path.with_suffix(".timer"), None)

    @_writes
    def rearm_schedules(self) -> list[str]:
        active = (schedule for schedule in self._readable_schedules() if not schedule.paused)
        rearmed = []
        for schedule in active:
            record = self._schedule_path(schedule.id).with_suffix(".timer")
            if not self._armed(record):
                self._replace_timer(record, Timer(schedule.next_due, "schedule", schedule.id))
                rearmed.append(schedule.id)
        return rearmed

    def _readable_schedules(self) -> Iterator[Schedule]:
        """The schedules on file, passing over those that cannot be read (doctor names them)."""
        for path in sorted((self.root / "schedules").glob("*.json")):
            with contextlib.suppress(OSError, ValidationError):
                yield Schedule.model_validate_json(path.read_bytes())

    def schedule(self, schedule_id: str) -> Schedule | None:
        try:
            return Schedule.model_validate_json(read_file(self._schedule_path(schedule_id)))
        except (BadInput, FileNotFoundError):  # an id no schedule can have, or none saved
            return None

    def schedules(self) -> list[Schedule]:
        folder = self.root / "schedules"
        if not folder.is_dir():
            return []
        return [Schedule.model_validate_json(read_file(p)) for p in sorted(folder.glob("*.json"))]

    @_writes
    def remove_schedule(self, schedule_id: str) -> None:
        path = self._schedule_path(schedule_id)
        self._replace_timer(path.with_suffix(".timer"), None)
        path.unlink(missing_ok=True)

    def _leave_queue(self, run_id: str, news: Callable[[], bool]) -> None:
        """Out of ready/ unless `news()`. The marker is first renamed to `<id>.leaving`,
        which workers treat as queued: a process dying at any point leaves one of the two
        names, and a sender who queues the run meanwhile finds `<id>` free to link."""
        marker = os.path.join(self.root, "ready", run_id)
        with contextlib.suppress(FileNotFoundError):
            os.rename(marker, marker + LEAVING)
        if news():
            self._set_ready(run_id, True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(marker + LEAVING)

    def _set_ready(self, run_id: str, ready: bool) -> None:
        marker = os.path.join(self.root, "ready", run_id)
        if not ready:
            try:
                os.unlink(marker)
            except FileNotFoundError:  # perhaps a dying `_leave_queue` left its other name
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(marker + LEAVING)
            return
        self._layout()
        # A hard link, not a new file: linking costs no inode, which creating one does.
        with contextlib.suppress(FileExistsError):
            os.link(os.path.join(self.root, "run", run_id, "run.json"), marker)
            fsync_dir(self.root / "ready")

    def _stray(self, name: str, why: str) -> None:
        """Log, once, a file of the indexes that is none of aiki's: it is skipped."""
        if name not in self._strays:
            self._strays.add(name)
            log.warning("skipping %s in %s: %s; `aiki doctor` reports it", name, self.location, why)

    # -- workers --------------------------------------------------------------------

    @contextlib.contextmanager
    def register_worker(self, worker_id: str, info: dict[str, Any]) -> Iterator[None]:
        lock = self._sign_on(worker_id, info)
        try:
            yield
        finally:
            self.roster.sign_off(worker_id, lock)

    @_writes
    def _sign_on(self, worker_id: str, info: dict[str, Any]) -> FileLock:
        self._layout()
        return self.roster.sign_on(worker_id, info)

    def live_workers(self) -> list[dict[str, Any]]:
        return self.roster.live()


class FileClaim:
    """A held run lock and the run's journal, open for appending.

    Lines appended with `sync` become durable at the next `flush`, which every method
    acting outside the journal (and `release`) does first: nothing the run does elsewhere
    can get ahead of its journal, and entries appended together share one `fdatasync`.
    """

    def __init__(
        self,
        store: FileStore,
        run_dir: Path,
        spec: RunSpec,
        entries: list[Entry],
        lock: FileLock,
        journal: AppendLog,
    ) -> None:
        self.spec = spec
        self.entries = entries
        self._store = store
        self.location = store.location
        self._lock = lock
        self._dir = run_dir
        self._journal = journal

    @_writes
    def append(self, *entries: Entry, sync: bool = True) -> None:
        lines = [dump_entry(entry) for entry in entries]
        self._journal.append(b"\n".join(lines) + b"\n", sync=sync)
        self.entries.extend(entries)

    @property
    def unsynced(self) -> bool:
        return self._journal.unsynced

    @_writes
    def flush(self) -> None:
        self._journal.flush()

    def requests(self, kinds: Iterable[Request] = REQUESTS) -> frozenset[str]:
        return _requests(self._lock.fd, kinds)  # the held lock is the run directory, open

    @_writes
    def clear_request(self, kind: Request) -> None:
        self._journal.flush()
        (self._dir / kind).unlink(missing_ok=True)

    def mail(self) -> list[Mail]:
        names = self._letters()
        if not names:
            return []  # most runs get none
        letters = [self._letter(self._dir / "inbox" / name) for name in names]
        return sorted(letters, key=lambda mail: (mail.sent_at, mail.order, mail.key))

    def _letter(self, path: Path) -> Mail:
        """A letter; one that is no regular file or no letter (not of aiki's writing:
        letters are renamed into place whole) makes the run damaged, as doctor says."""
        try:
            return Mail.model_validate_json(read_file(path))
        except NotRegularFile as error:
            raise _damaged_file(self.spec.id, path, error) from None
        except ValidationError as error:
            detail = f"{path} is not a letter ({reason(error)})"
            raise RunDamaged(self.spec.id, detail, path=str(path)) from None

    @_writes
    def ack(self, mail: Mail) -> None:
        self._journal.flush()
        if mail.reference_id is not None:
            make_dirs(self._dir / "refs")
            atomic_create(self._dir / "refs" / mail.key, b"")
        (self._dir / "inbox" / f"{mail.key}.json").unlink(missing_ok=True)

    @_writes
    def set_ready(self, ready: bool) -> None:
        self._journal.flush()
        self._store._set_ready(self.spec.id, ready)

    @_writes
    def set_timer(self, due: datetime | None) -> None:
        self._journal.flush()
        timer = None if due is None else Timer(due, "run", self.spec.id)
        self._store._replace_timer(self._dir / "timer", timer)

    @_writes
    def leave_queue(self) -> None:
        self._journal.flush()
        self._store._leave_queue(self.spec.id, self._has_news)

    def _has_news(self) -> bool:
        return bool(self.requests()) or bool(self._letters())

    def _letters(self) -> list[str]:
        # Most runs never get mail: looking for the inbox in the open run directory costs
        # less than failing to list it by its whole path.
        if not os.access("inbox", os.F_OK, dir_fd=self._lock.fd):
            return []
        return _mail(self._dir / "inbox")

    @_writes
    def release(self) -> None:
        try:
            self._journal.flush()
        finally:
            self._journal.close()
            self._lock.release()


def _holder_if_readable(key_path: Path) -> str | None:
    with contextlib.suppress(NotRegularFile):
        return _key_holder(key_path)
    return None


def _key_holder(key_path: Path) -> str | None:
    """The id of the run an idempotency key names, or None. `NotRegularFile` when its
    record is anything but a file (a FIFO would block a plain read for ever)."""
    try:
        return read_file(key_path).decode(errors="replace").strip()
    except FileNotFoundError:
        return None


def _summary_and_tail(
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
    return _summary_and_tail(run_dir, run_dir / "journal.jsonl")[0] is not None


def _save_summary(run_dir: Path, summary: tuple[Summary, SummaryTasks]) -> None:
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


def _damaged_spec(run_id: str, run_dir: Path, problem: str) -> RunDamaged:
    path = run_dir / "run.json"
    return RunDamaged(run_id, f"{path} {problem}", path=str(path))


def _damaged_file(run_id: str, path: Path, error: NotRegularFile) -> RunDamaged:
    """The run's file at `path` is no regular file (a symlink, a FIFO)."""
    return RunDamaged(run_id, f"{path} {error.strerror}", path=str(path))


def _timer_in(record: Path, folder: int | None = None) -> str | None:
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
        raise _damaged_file(run_id, record, error) from None
    timer = _parse_timer(name)
    owner = ("run", run_id) if run_id is not None else ("schedule", record.stem)
    if timer is not None and (timer.kind, timer.target) == owner:
        return name
    if run_id is None:
        return None
    detail = f"{record} names {name[:80]!r}, which is not a timer of this run (never followed)"
    raise RunDamaged(run_id, detail, path=str(record))


def _requests(folder: int, kinds: Iterable[Request] = REQUESTS) -> frozenset[str]:
    """The requests left in the run directory open as `folder`. Checked before every task:
    looked up relative to it, the kernel does not walk the run's whole path each time."""
    return frozenset(kind for kind in kinds if os.access(kind, os.F_OK, dir_fd=folder))


def requests_in(run_dir: Path) -> frozenset[str]:
    """The requests left in `run_dir`, for a caller that holds no claim of the run."""
    folder = os.open(run_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return _requests(folder)
    finally:
        os.close(folder)


def _mail(inbox: Path) -> list[str]:
    """The names of the letters in `inbox`: not the temp files of writes under way."""
    try:
        names = os.listdir(inbox)
    except FileNotFoundError:
        return []
    return [name for name in names if name.endswith(".json") and not name.startswith(".")]


def _folder_stamp(folder: Path) -> tuple[int, int, int]:
    """What changes when a name is added to or removed from `folder`: its inode and its
    modification and change times (ns; the change time is last)."""
    info = os.stat(folder)
    return info.st_ino, info.st_mtime_ns, info.st_ctime_ns


def _timer_name(timer: Timer) -> str:
    millis = math.ceil(timer.due.timestamp() * 1000)  # never fire before the due time
    return f"{millis:015d}-{timer.kind}-{timer.target}"


_TIMER_NAME = re.compile(r"([0-9]{15})-(run|schedule)-(.+)")


def _parse_timer(name: str) -> Timer | None:
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


def _parse_journal(run_id: str, path: Path, lines: list[bytes]) -> list[Entry]:
    entries = []
    for number, line in enumerate(lines, start=1):
        try:
            entries.append(parse_entry(line))
        except ValidationError as error:
            newer = newer_entry(run_id, str(path), line, number, ENTRY_TYPES)
            raise (newer or _damaged_line(run_id, path, lines, number, error)) from error
    return entries


def _damaged_line(
    run_id: str, path: Path, lines: list[bytes], number: int, error: Exception
) -> RunDamaged:
    """Line `number` of the journal `lines` (read from `path`) is no journal entry."""
    offset = sum(len(line) + 1 for line in lines[: number - 1])
    detail = f"{path} line {number} (at byte {offset}) is not a journal entry ({reason(error)})"
    return RunDamaged(run_id, detail, path=str(path), line=number, offset=offset)


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


def _ends_torn(fd: int) -> bool:
    """True when the file's last line has no newline: a write a crash cut short."""
    size = os.fstat(fd).st_size
    return size > 0 and os.pread(fd, 1, size - 1) != b"\n"


def _lines_backwards(path: Path) -> Iterator[bytes]:
    """The complete lines of a file, last first, reading it from its end in chunks."""
    try:
        file = os.fdopen(open_regular(path, os.O_RDONLY), "rb")
    except FileNotFoundError:
        return
    with file:
        position = file.seek(0, os.SEEK_END)
        tail, at_end = b"", True
        while position > 0:
            step = min(_CHUNK, position)
            position -= step
            file.seek(position)
            lines = (file.read(step) + tail).split(b"\n")
            tail = lines.pop(0)  # its start may lie in the chunk before
            if at_end and lines:
                lines.pop()  # what follows the last newline is a torn line, or nothing
                at_end = False
            yield from (line for line in reversed(lines) if line)
        if tail and not at_end:
            yield tail
