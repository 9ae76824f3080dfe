"""A file store's claim of a run: its directory's lock, held, and its journal, open."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from ...errors import RunDamaged
from ...model.entry import Entry, dump_entry
from ...model.runinfo import RunSpec
from ..base import REQUESTS, Mail, PlainLooks, Request, Timer
from .indexes import Indexes
from .layout import damaged_file, mail_names, reason, requests_at
from .lock import FileLock
from .syncio import AppendLog, NotRegularFile, atomic_create, make_dirs, read_file
from .unwritable import writes


class FileClaim(PlainLooks):
    """A held run lock and the run's journal, open for appending.

    Lines appended with `sync` become durable at the next `flush`, which every method
    acting outside the journal (and `release`) does first: nothing the run does elsewhere
    can get ahead of its journal, and entries appended together share one `fdatasync`.
    """

    def __init__(
        self,
        indexes: Indexes,
        run_dir: Path,
        spec: RunSpec,
        entries: list[Entry],
        lock: FileLock,
        journal: AppendLog,
        *,
        queued: bool,
    ) -> None:
        self.spec = spec
        self.entries = entries
        self.queued = queued
        self._indexes = indexes
        self.location = indexes.location
        self._lock = lock
        self._dir = run_dir
        self._journal = journal

    @writes
    def append(self, *entries: Entry, sync: bool = True) -> None:
        lines = [dump_entry(entry) for entry in entries]
        self._journal.append(b"\n".join(lines) + b"\n", sync=sync)
        self.entries.extend(entries)

    @property
    def journal(self) -> AppendLog:
        """The run's journal, open for appending (for the store's `flush_together`)."""
        return self._journal

    @property
    def unsynced(self) -> bool:
        return self._journal.unsynced

    @writes
    def flush(self) -> None:
        self._journal.flush()

    def requests(self, kinds: Iterable[Request] = REQUESTS) -> frozenset[str]:
        return requests_at(self._lock.fd, kinds)  # the held lock is the run directory, open

    @writes
    def clear_request(self, kind: Request) -> None:
        self._journal.flush()
        (self._dir / kind).unlink(missing_ok=True)

    def mail(self) -> list[Mail]:
        names = self._letters()
        if not names:
            return []  # most runs get none
        return letters_in(self.spec.id, self._dir / "inbox", names)

    @writes
    def ack(self, mail: Mail) -> None:
        self._journal.flush()
        if mail.reference_id is not None:
            make_dirs(self._dir / "refs")
            atomic_create(self._dir / "refs" / mail.key, b"")
        (self._dir / "inbox" / f"{mail.key}.json").unlink(missing_ok=True)

    @writes
    def set_ready(self, ready: bool, *, at_release: bool = False) -> None:
        self._journal.flush()
        self._indexes.set_ready(self.spec.id, ready)

    @writes
    def set_timer(self, due: datetime | None) -> None:
        self._journal.flush()
        timer = None if due is None else Timer(due, "run", self.spec.id)
        self._indexes.replace_timer(self._dir / "timer", timer)

    @writes
    def leave_queue(self) -> None:
        self._journal.flush()
        self._indexes.leave_queue(self.spec.id, self._has_news)

    def _has_news(self) -> bool:
        return bool(self.requests()) or bool(self._letters())

    def _letters(self) -> list[str]:
        # Most runs never get mail: looking for the inbox in the open run directory costs
        # less than failing to list it by its whole path.
        if not os.access("inbox", os.F_OK, dir_fd=self._lock.fd):
            return []
        return mail_names(self._dir / "inbox")

    @writes
    def release(self) -> None:
        try:
            self._journal.flush()
        finally:
            self._journal.close()
            self._lock.release()


def letters_in(run_id: str, inbox: Path, names: list[str]) -> list[Mail]:
    """The letters `names` in the run's `inbox`, in the order they were sent."""
    letters = [_letter(run_id, inbox / name) for name in names]
    return sorted(letters, key=lambda mail: (mail.sent_at, mail.order, mail.key))


def _letter(run_id: str, path: Path) -> Mail:
    """A letter; one that is no regular file or no letter (not of aiki's writing:
    letters are renamed into place whole) makes the run damaged, as doctor says."""
    try:
        return Mail.model_validate_json(read_file(path))
    except NotRegularFile as error:
        raise damaged_file(run_id, path, error) from None
    except ValidationError as error:
        detail = f"{path} is not a letter ({reason(error)})"
        raise RunDamaged(run_id, detail, path=str(path)) from None
