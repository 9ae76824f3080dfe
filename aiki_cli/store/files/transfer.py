"""Moving whole runs in and out of the file store: export, import and removal.

An import is staged in tmp/ and moved into run/ whole, as a start is: its key is taken
and it is listed and queued first, so a process dying at any point leaves the run whole
and queued, or none of it but a listing or a queue marker naming no run (which `list`
and workers pass over) and, for a keyed run, its key (repeating the import completes it;
`aiki doctor --repair` removes it). Once in place, a parked run gets its timer and
leaves the queue under its lock, as a worker parking it would. A removal takes the run's
lock, drops its timer, queue marker and key, then moves its directory out of run/ (the
moment of truth), marks it removed in the creation log and deletes its files; a kill
between the key and the move leaves a kept run without its key, which doctor rebuilds.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from ...errors import IllegalTransition, RunClaimed, RunDamaged, RunExists
from ...model.entry import Entry
from ...model.export import RunExport
from ...model.journal import current_status
from ...model.mail import Mail
from ...model.runinfo import RunSpec
from ...values.ids import check_run_id
from ..base import Timer
from .indexes import Indexes
from .layout import damaged_file, key_holder, mail_names, reason, requests_in
from .lock import try_lock_dir
from .syncio import NotRegularFile, atomic_create, fsync_dir, make_dirs, read_file, write_synced


class TheStore(Protocol):
    """What of `FileStore` its transfers use (a protocol: the store imports this module)."""

    root: Path
    location: str
    indexes: Indexes

    def read_run(self, run_id: str) -> tuple[RunSpec, list[Entry]]: ...

    def key_path(self, spec: RunSpec) -> Path | None: ...


def export_run(store: TheStore, run_id: str) -> RunExport:
    spec, entries = store.read_run(run_id)
    run_dir = store.root / "run" / spec.id
    letters = [_letter(spec.id, run_dir / "inbox" / name) for name in mail_names(run_dir / "inbox")]
    letters.sort(key=lambda mail: (mail.sent_at, mail.order, mail.key))
    requests = sorted(requests_in(run_dir))
    return RunExport(spec=spec, journal=entries, mail=letters, requests=requests)  # type: ignore[arg-type]


def _letter(run_id: str, path: Path) -> Mail:
    try:
        return Mail.model_validate_json(read_file(path))
    except NotRegularFile as error:
        raise damaged_file(run_id, path, error) from None
    except ValidationError as error:
        detail = f"{path} is not a letter ({reason(error)})"
        raise RunDamaged(run_id, detail, path=str(path)) from None


def import_run(store: TheStore, run: RunExport) -> None:
    spec = run.spec
    run_dir = store.root / "run" / check_run_id(spec.id)
    if os.path.lexists(run_dir):
        raise RunExists(spec.id, store.location)
    key_path = store.key_path(spec)
    if key_path is not None and (holder := key_holder(key_path)) not in (None, spec.id):
        raise RunExists(spec.id, store.location, f"its idempotency key already started {holder}")
    store.indexes.lay_out()
    staging = store.root / "tmp" / spec.id
    shutil.rmtree(staging, ignore_errors=True)  # what an import killed midway left
    try:
        _stage(run, staging)
        _move_in(store, run, staging, run_dir, key_path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _place(store, run, run_dir)


def _stage(run: RunExport, staging: Path) -> None:
    """Write the run's files into `staging`: run.json as a start writes it, the journal's
    lines as the source wrote them, its letters, requests and received reference ids."""
    make_dirs(staging)
    write_synced(staging / "run.json", run.spec.model_dump_json(indent=2).encode() + b"\n")
    write_synced(staging / "journal.jsonl", b"".join(line + b"\n" for line in run.journal_lines()))
    for kind in run.requests:
        write_synced(staging / kind, b"")
    for folder, files in (
        ("inbox", {f"{mail.key}.json": mail.model_dump_json().encode() for mail in run.mail}),
        ("refs", dict.fromkeys(run.received_keys(), b"")),
    ):
        if files:
            make_dirs(staging / folder)
            for name, data in files.items():
                write_synced(staging / folder / name, data)
            fsync_dir(staging / folder)
    fsync_dir(staging)


def _move_in(
    store: TheStore, run: RunExport, staging: Path, run_dir: Path, key_path: Path | None
) -> None:
    """Take the key, list and queue the staged run, then move it into run/."""
    spec = run.spec
    took_key = key_path is not None and atomic_create(key_path, spec.id.encode())
    if key_path is not None and not took_key and key_holder(key_path) != spec.id:
        holder = key_holder(key_path)
        raise RunExists(spec.id, store.location, f"its idempotency key already started {holder}")
    store.indexes.log_created(spec)
    with contextlib.suppress(FileExistsError):
        os.link(staging / "run.json", store.root / "ready" / spec.id)
    fsync_dir(store.root / "ready")
    try:
        os.rename(staging, run_dir)
    except OSError as error:
        if key_path is not None and took_key:
            key_path.unlink(missing_ok=True)
        if os.path.lexists(run_dir):  # another import of this id won the race
            raise RunExists(spec.id, store.location) from error
        raise
    fsync_dir(run_dir.parent)


def _place(store: TheStore, run: RunExport, run_dir: Path) -> None:
    """Give a parked run its timer and take it out of the queue, as a worker parking it
    would, under its lock; a worker that holds the run meanwhile does that itself."""
    queued, due = run.placement()
    if queued:
        return
    lock = try_lock_dir(run_dir)
    if lock is None:
        return
    try:
        if due is not None:
            store.indexes.replace_timer(run_dir / "timer", Timer(due, "run", run.spec.id))
        store.indexes.leave_queue(run.spec.id, lambda: _has_news(run_dir))
    finally:
        lock.release()


def _has_news(run_dir: Path) -> bool:
    return bool(requests_in(run_dir)) or bool(mail_names(run_dir / "inbox"))


def remove_run(store: TheStore, run_id: str) -> None:
    spec, _ = store.read_run(run_id)  # RunNotFound, RunDamaged
    run_dir = store.root / "run" / spec.id
    lock = try_lock_dir(run_dir)
    if lock is None:
        raise RunClaimed(run_dir.name, store.location)
    try:
        spec, entries = store.read_run(run_dir.name)
        status = current_status(entries)
        if not status.terminal:
            hint = "only runs that have ended can be removed"
            raise IllegalTransition(spec.id, status, "be removed", hint)
        store.indexes.replace_timer(run_dir / "timer", None)
        store.indexes.set_ready(spec.id, False)
        key_path = store.key_path(spec)
        if key_path is not None and key_holder(key_path) == spec.id:
            key_path.unlink()  # just before the move: a kill between leaves a key to rebuild
        gone = store.root / "tmp" / f".removed-{spec.id}-{secrets.token_hex(4)}"
        os.rename(run_dir, gone)
        fsync_dir(run_dir.parent)
    finally:
        lock.release()
    store.indexes.log_removed(spec.id)
    shutil.rmtree(gone, ignore_errors=True)
