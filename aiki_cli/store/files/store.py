"""The file store: one directory per run, human-readable JSON, the journal as the source
of truth. What lies where on disk is in `layout`; the queue and timers in `indexes`.

Nothing scans `run/`: the worker lists `ready/` (only runs that need work) and the names
in `timers/` (sorted by due time, so it stops at the first one not due), `status` opens
one run's directory by id, and `list` reads `created.log` backwards from its end. Only
the holder of a run's lock writes its journal; everyone else leaves a request or mail
for the holder to act on, then queues the run.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ...errors import AikiError, RunDamaged, RunNotFound
from ...model.entry import Entry
from ...model.journal import Fold, summarize
from ...model.runinfo import FORMAT, RunInfo, RunSpec
from ...model.schedule import Schedule
from ...values.ids import RUN_ID, check_run_id
from ..base import Claim, Mail, Request, RunRef, Taken, Timer, claim_each, release_each
from ..report import Report
from . import transfer
from .claim import FileClaim, letters_in
from .formats import newer_spec
from .indexes import Indexes
from .layout import (
    MAIL_KEY,
    REMOVED,
    damaged_file,
    damaged_spec,
    holder_if_readable,
    journal_since,
    key_holder,
    lines_backwards,
    mail_names,
    parse_journal,
    reason,
    requests_in,
    timer_in,
)
from .lock import FileLock, try_lock_dir
from .roster import Roster
from .schedules import ScheduleFiles
from .starts import create_runs
from .summary import SUMMARY_EVERY, Summary, save_summary, summary_and_tail
from .syncio import (
    FILE_MODE,
    AppendLog,
    NotRegularFile,
    atomic_create,
    fsync_dir,
    make_dirs,
    read_file,
    read_lines,
    split_lines,
    sync_together,
    write_synced,
)
from .unwritable import writes

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)
        self._runs = root / "run"
        self.indexes = Indexes(root, self.location)
        self.roster = Roster(root / "workers")
        self.schedule_files = ScheduleFiles(root, self.location, self.indexes)

    def _run_dir(self, run_id: str) -> Path:
        return self._runs / check_run_id(run_id)

    def _existing_run_dir(self, run_id: str) -> Path:
        run_dir = self._run_dir(run_id)
        if not os.path.lexists(run_dir / "run.json"):  # not is_file(): a FIFO is damage
            raise RunNotFound(run_dir.name, self.location)
        return run_dir

    @writes
    def create_run(self, spec: RunSpec) -> RunSpec:
        key_path = self.key_path(spec)
        if key_path is not None and (existing := self._run_for_key(key_path)) is not None:
            return existing
        self.indexes.lay_out()
        run_dir = self._run_dir(spec.id)
        try:
            self._stage(spec, run_dir)
            return spec if key_path is None else self._take_key(spec, key_path)
        except OSError:
            # A full disk, say: take back what this start wrote, so no half-made run shows
            # (unless a worker already took the run's key for it, and may be executing it).
            if key_path is None or holder_if_readable(key_path) != spec.id:
                self._discard(spec.id)
            raise

    @writes
    def create_runs(self, specs: Sequence[RunSpec]) -> None:
        create_runs(self.root, self.indexes, specs, self._discard)

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
        self.indexes.log_created(spec)
        with contextlib.suppress(FileExistsError):
            os.link(staging / "run.json", self.root / "ready" / spec.id)
        fsync_dir(self.root / "ready")
        os.rename(staging, run_dir)
        fsync_dir(run_dir.parent)

    def _take_key(self, spec: RunSpec, key_path: Path) -> RunSpec:
        """Record the run as its key's (the keyed start's moment of truth); when another
        run holds the key, discard this one, which no worker executes, and return that run.
        A worker may have taken the key for this run already (its start was slow, or died)."""
        if atomic_create(key_path, spec.id.encode()) or key_holder(key_path) == spec.id:
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
        key_path = self.key_path(spec)
        if key_path is None or entries:
            return False
        try:
            holder = key_holder(key_path)
            if holder is None and atomic_create(key_path, spec.id.encode()):
                return False
            return (holder or key_holder(key_path)) != spec.id
        except NotRegularFile as error:
            raise damaged_file(spec.id, key_path, error) from None

    def key_path(self, spec: RunSpec) -> Path | None:
        if spec.idempotency_key is None:
            return None
        digest = hashlib.sha256(f"{spec.workflow}\0{spec.idempotency_key}".encode()).hexdigest()
        return self.root / "index" / "keys" / digest

    def _run_for_key(self, key_path: Path) -> RunSpec | None:
        try:
            run_id = key_holder(key_path)
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
        self.indexes.log_created(spec)
        self.indexes.set_ready(spec.id, True)

    def read_run(self, run_id: str) -> tuple[RunSpec, list[Entry]]:
        run_dir = self._existing_run_dir(run_id)
        journal = run_dir / "journal.jsonl"
        try:
            lines, _ = read_lines(journal)
        except NotRegularFile as error:
            raise damaged_file(run_id, journal, error) from None
        return self.read_spec(run_dir, run_id), parse_journal(run_id, journal, lines)

    def read_since(self, run_id: str, cursor: int = 0) -> tuple[RunSpec, list[Entry], int]:
        run_dir = self._existing_run_dir(run_id)
        spec = self.read_spec(run_dir, run_id)
        return spec, *journal_since(run_id, run_dir / "journal.jsonl", cursor)

    def read_summary(self, run_id: str, *, tasks: bool = True) -> RunInfo:
        """The run's state, folding only the journal past its summary (see `summary`); a
        reader that had to fold many lines leaves a new summary for the next one. Without
        `tasks`, the state holds no task calls, and the summary's are not read."""
        run_dir = self._existing_run_dir(run_id)
        spec = self.read_spec(run_dir, run_id)
        journal = run_dir / "journal.jsonl"
        try:
            saved, start, data, before = summary_and_tail(run_dir, journal, tasks)
        except NotRegularFile as error:
            raise damaged_file(run_id, journal, error) from None
        lines, size = split_lines(data)
        try:
            entries = parse_journal(run_id, journal, lines)
        except RunDamaged:
            if saved is None:
                raise
            return summarize(*self.read_run(run_id))  # raises, with the whole file's lines
        fold = Fold.start(spec) if saved is None else saved
        fold.feed_all(entries)
        if (tasks or saved is None) and len(lines) >= SUMMARY_EVERY:
            save_summary(run_dir, Summary.of(fold, start + size, before + data[:size]))
        if not tasks:
            fold.info.tasks = []
        return fold.result()

    def read_spec(self, run_dir: Path, run_id: str, folder: int | None = None) -> RunSpec:
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
            raise damaged_spec(run_id, run_dir, f"cannot be read ({reason(error)})") from error
        path = str(run_dir / "run.json")
        newer = newer_spec(run_id, path, data, FORMAT) if spec.format > FORMAT else None
        if newer is not None:
            raise newer
        if spec.id != run_dir.name:
            raise damaged_spec(run_id, run_dir, f"holds run {spec.id!r}, not {run_dir.name}")
        return spec

    def list_runs(self) -> Iterator[RunRef]:
        seen: set[str] = set()
        for line in lines_backwards(self.root / "index" / "created.log"):
            run_id, _, ref = line.decode(errors="replace").partition(" ")
            workflow, _, version = ref.partition("@")
            if RUN_ID.fullmatch(run_id) and run_id not in seen:  # not a torn fragment
                seen.add(run_id)
                if ref != REMOVED:  # the run's latest line says it was removed
                    yield RunRef(run_id, workflow, version)

    def ready_runs(self) -> list[str]:
        return self.indexes.ready_runs()

    def is_ready(self, run_id: str) -> bool:
        return self.indexes.is_ready(run_id)

    def requests(self, run_id: str) -> frozenset[str]:
        return requests_in(self._existing_run_dir(run_id))

    def unread_mail(self, run_id: str) -> list[Mail]:
        inbox = self._existing_run_dir(run_id) / "inbox"
        return letters_in(run_id, inbox, mail_names(inbox))

    @writes
    def claim(self, run_id: str, *, queued_only: bool = False) -> FileClaim | None:
        run_dir = self._run_dir(run_id)
        if queued_only and not self.is_ready(run_id):
            return None
        try:
            lock = try_lock_dir(run_dir)
        except OSError as error:
            if os.path.islink(run_dir):  # ELOOP, or ENOTDIR (O_DIRECTORY looks first)
                what = "is a symbolic link, which aiki never follows"
                link = NotRegularFile(errno.ELOOP, what, str(run_dir))
                raise damaged_file(run_dir.name, run_dir, link) from None
            if isinstance(error, FileNotFoundError | NotADirectoryError):
                self._not_there(run_dir)
                return None
            raise
        if lock is None:
            return None
        journal = None
        try:
            spec = self.read_spec(run_dir, run_id, lock.fd)
            timer_in(run_dir / "timer", lock.fd)  # checked before anything acts on the run
            try:
                journal = AppendLog(run_dir / "journal.jsonl", dir_fd=lock.fd)
            except NotRegularFile as error:
                raise damaged_file(run_id, run_dir / "journal.jsonl", error) from None
            lines, size = split_lines(journal.read())
            entries = parse_journal(run_id, journal.path, lines)
            journal.cut_to(size)  # drop a torn last line before appending after it
            if self._keyed_elsewhere(spec, entries):
                journal.close()
                lock.release()
                self._discard(run_id)
                return None
            queued = self.indexes.is_ready(run_id)
            return FileClaim(self.indexes, run_dir, spec, entries, lock, journal, queued=queued)
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

    def claim_many(self, run_ids: Sequence[str], *, queued_only: bool = False) -> list[Taken]:
        return claim_each(self, run_ids, queued_only=queued_only)

    def release_many(self, claims: Sequence[Claim]) -> None:
        release_each(claim.release for claim in claims)

    def flush_together(self, claims: list[Claim]) -> bool:
        journals = [claim.journal for claim in claims if isinstance(claim, FileClaim)]
        return len(journals) == len(claims) and sync_together(journals)

    @writes
    def request(self, run_id: str, kind: Request) -> None:
        run_dir = self._existing_run_dir(run_id)
        atomic_create(run_dir / kind, b"")
        self.indexes.set_ready(run_dir.name, True)  # a parked run needs a worker to see the request

    @writes
    def post(self, run_id: str, mail: Mail) -> bool:
        run_dir = self._existing_run_dir(run_id)
        if (run_dir / "refs" / mail.key).exists():
            return False
        # Queued first too: a sender killed once its letter is in leaves the run queued.
        self.indexes.set_ready(run_dir.name, True)
        make_dirs(run_dir / "inbox")
        posted = atomic_create(
            run_dir / "inbox" / f"{mail.key}.json", mail.model_dump_json().encode()
        )
        # Queued again (a worker may have taken the run out meanwhile), even when the
        # letter was there: its poster may have died before queueing it.
        self.indexes.set_ready(run_dir.name, True)
        return posted

    def posted(self, run_id: str, key: str) -> bool:
        if not MAIL_KEY.fullmatch(key):
            raise ValueError(f"{key!r} is not a mail key")
        run_dir = self._existing_run_dir(run_id)
        return (run_dir / "refs" / key).exists() or (run_dir / "inbox" / f"{key}.json").exists()

    @writes
    def mark_ready(self, run_id: str) -> None:
        self.indexes.set_ready(self._existing_run_dir(run_id).name, True)

    def due_timers(self, now: datetime) -> list[Timer]:
        return self.indexes.due_timers(now)

    def next_due(self) -> datetime | None:
        return self.indexes.next_due()

    @writes
    def clear_timer(self, timer: Timer) -> None:
        self.indexes.clear_timer(timer)

    def save_schedule(self, schedule: Schedule) -> None:
        self.schedule_files.save(schedule)

    def rearm_schedules(self) -> list[str]:
        return self.schedule_files.rearm()

    def schedule(self, schedule_id: str) -> Schedule | None:
        return self.schedule_files.get(schedule_id)

    def schedules(self) -> list[Schedule]:
        return self.schedule_files.all()

    def remove_schedule(self, schedule_id: str) -> None:
        self.schedule_files.remove(schedule_id)

    @contextlib.contextmanager
    def register_worker(self, worker_id: str, info: dict[str, Any]) -> Iterator[None]:
        lock = self._sign_on(worker_id, info)
        try:
            yield
        finally:
            self.roster.sign_off(worker_id, lock)

    @writes
    def _sign_on(self, worker_id: str, info: dict[str, Any]) -> FileLock:
        self.indexes.lay_out()
        return self.roster.sign_on(worker_id, info)

    def live_workers(self) -> list[dict[str, Any]]:
        return self.roster.live()

    def examine(self, *, repair: bool = False) -> Report:
        from .doctor import examine  # the checks, which only doctor pays for

        return examine(self, repair=repair)

    export_run = transfer.export_run  # whole runs in and out: see `transfer`
    import_run = writes(transfer.import_run)
    remove_run = writes(transfer.remove_run)
