"""`aiki doctor`: check a file store, and rebuild what is derived from its runs.

A run's `run.json` and `journal.jsonl` are its truth. Doctor never rewrites them (it only
cuts off a torn last line, as the next worker would): when they are damaged it names the
file, the line and the byte to cut at, and a person decides. Everything else is derived
from them, and `--repair` rebuilds it:

    ready/<id>          a pending or running run has one; an ended or paused run has none
    timers/             a parked run due at a time has its marker; no marker outlives its run
    index/created.log   lists every run (it is what `aiki list` reads)
    index/keys/         each key names a run that exists, and each run's key exists
    run/<x>/            a directory without run.json (a start that died, say) is removed
    tmp/, .*.tmp        staging and temp files a crash left behind
    workers/            the files of workers that are gone

Each run is checked while holding its lock, so no worker changes it meanwhile; a run a
worker is executing is skipped (it parsed when the worker took it). Doctor is the one
command that reads every run. This module checks each run; `markers` its ready and timer
markers, `indexes` the store-wide indexes and leftovers, `family` parents against children.
"""

from __future__ import annotations

import os
import shutil
from functools import partial
from pathlib import Path

from pydantic import ValidationError

from ....errors import NewerFormat, RunDamaged
from ....model.entry import Entry, StatusChanged
from ....model.journal import summarize
from ....model.runinfo import RunSpec
from ....model.status import RunStatus, can_transition
from ....values.ids import RUN_ID
from ...base import Mail
from ..layout import REMOVED, mail_names, parse_journal, reason, timer_in
from ..lock import try_lock_dir
from ..summary import SUMMARY, summary_matches
from ..syncio import (
    NotRegularFile,
    atomic_create,
    atomic_write,
    file_size,
    read_file,
    read_lines,
    truncate_to,
)
from .family import FamilyChecks
from .findings import Findings
from .indexes import IndexChecks, names, remove
from .markers import MarkerChecks


class RunChecks:
    """Each run's checks: its files parse, its journal's status changes are allowed, and
    the indexes (queue, timers, creation log, key) agree with it."""

    def __init__(self, findings: Findings, indexes: IndexChecks, family: FamilyChecks) -> None:
        self.findings = findings
        self.store = findings.store
        self.root = findings.root
        self.report = findings.report
        self.indexes = indexes
        self.family = family
        self.markers = MarkerChecks(findings)

    def check(self) -> None:
        markers = self.indexes.timer_markers()
        created = self.indexes.created()
        latest: dict[str, str] = {}  # each run's last line: a listing, or its removal
        for line in created:
            run_id, _, ref = line.decode(errors="replace").partition(" ")
            latest[run_id] = ref
        listed = {run_id for run_id, ref in latest.items() if ref != REMOVED}
        for name in names(self.root / "run"):
            self._check_entry(self.root / "run" / name, markers.get(name, []), listed)
        self.indexes.check(listed)

    # -- runs -------------------------------------------------------------------------

    def _check_entry(self, run_dir: Path, markers: list[str], listed: set[str]) -> None:
        name = run_dir.name
        if not run_dir.is_dir() or not RUN_ID.fullmatch(name):
            self.findings.found(
                "stray",
                f"{run_dir} is not a run",
                f"move it out of {self.root / 'run'}",
                path=run_dir,
            )
        elif not os.path.lexists(run_dir / "run.json"):  # a FIFO there is damage, below
            self._check_orphan(run_dir)
        else:
            self.report.runs += 1
            self._check_run(run_dir, markers, listed)

    def _check_orphan(self, run_dir: Path) -> None:
        """A run directory without its start record: an abandoned one, or worse."""
        if file_size(run_dir / "journal.jsonl") > 0:
            self.findings.found(
                "run-unreadable",
                f"{run_dir} has a journal but no run.json",
                f"restore {run_dir / 'run.json'} from a backup, or move {run_dir} out of the store",
                run_id=run_dir.name,
                path=run_dir,
            )
            return
        lock = try_lock_dir(run_dir)
        if lock is None:
            return  # someone holds it: not an orphan after all
        try:
            self.findings.found(
                "orphan",
                f"{run_dir} holds no run.json, only {', '.join(names(run_dir)) or 'nothing'}",
                "--repair removes it",
                run_id=run_dir.name,
                path=run_dir,
                repair=lambda: shutil.rmtree(run_dir),
            )
        finally:
            lock.release()

    def _check_run(self, run_dir: Path, markers: list[str], listed: set[str]) -> None:
        lock = try_lock_dir(run_dir)
        if lock is None:
            self.report.busy.append(run_dir.name)
            return
        try:
            self.indexes.leftovers(run_dir)
            self._check_inbox(run_dir)
            spec = self._spec(run_dir)
            entries = self._journal(run_dir)
            if spec is None or entries is None:
                return
            self._check_summary(run_dir)
            if not entries and not self.findings.stale(run_dir / "run.json"):
                return  # maybe a start in progress, which keys, lists and queues it next
            self._check_timer_record(run_dir, markers)
            if self._key_is_its_own(spec, entries):
                self._check_indexes(spec, entries, markers, listed)
        finally:
            lock.release()

    def _check_timer_record(self, run_dir: Path, markers: list[str]) -> None:
        """The run's `timer` file names one of its own timers, or nothing."""
        record = run_dir / "timer"
        try:
            timer_in(record)
        except RunDamaged as error:
            self.findings.found(
                "timer-record-damaged",
                error.detail,
                "--repair points it at the run's timer in timers/, or removes it",
                run_id=run_dir.name,
                path=record,
                repair=partial(_point_record, record, markers),
            )

    def _check_summary(self, run_dir: Path) -> None:
        """`summary.json` is derived from the journal: readers ignore one that no longer
        matches it (and write a new one), so it is no damage, only clutter."""
        path = run_dir / SUMMARY
        if path.exists() and not summary_matches(run_dir):
            self.findings.found(
                "stale-summary",
                f"{path} no longer matches the run's journal (readers ignore it)",
                "--repair removes it; the next `status` of the run writes a new one",
                run_id=run_dir.name,
                path=path,
                repair=lambda: path.unlink(missing_ok=True),
                damage=False,
            )

    def _spec(self, run_dir: Path) -> RunSpec | None:
        try:
            return self.store.read_spec(run_dir, run_dir.name)
        except NewerFormat as error:
            self._newer(run_dir.name, error)
            return None
        except RunDamaged as error:
            self.findings.found(
                "run-unreadable",
                error.detail,
                f"run.json is written once, at the start: restore it from a backup, or move "
                f"{run_dir} out of the store (the run is lost)",
                run_id=run_dir.name,
                path=run_dir / "run.json",
            )
            return None

    def _journal(self, run_dir: Path) -> list[Entry] | None:
        path = run_dir / "journal.jsonl"
        try:
            lines, end = read_lines(path)
            size = path.stat().st_size if path.exists() else 0
            entries = parse_journal(run_dir.name, path, lines)
        except OSError as error:
            self.findings.found(
                "journal-unreadable",
                f"{path} cannot be read: {error.strerror or error}",
                "check its permissions",
                run_id=run_dir.name,
                path=path,
            )
            return None
        except NewerFormat as error:
            self._newer(run_dir.name, error)
            return None
        except RunDamaged as error:
            self._damaged_line(run_dir.name, path, error.line or 1, error.offset or 0, error.detail)
            return None
        if size > end:
            self.findings.found(
                "torn-tail",
                f"{path} ends with {size - end} bytes of a line a crash cut short",
                "a worker cuts them off when it next takes the run; --repair cuts them now",
                run_id=run_dir.name,
                path=path,
                repair=lambda: truncate_to(path, end),
                damage=False,
            )
        return entries if self._story(run_dir.name, path, lines, entries) else None

    def _newer(self, run_id: str, error: NewerFormat) -> None:
        """A run written by a newer aiki: nothing to cut or rebuild, only to upgrade."""
        self.findings.found(
            "newer-format",
            error.detail,
            f"upgrade to {error.needed}; nothing is wrong with the run, so do not cut or "
            "edit its files (workers of this aiki leave it alone)",
            run_id=run_id,
            path=Path(error.path) if error.path else None,
        )

    def _damaged_line(self, run_id: str, path: Path, line: int, offset: int, problem: str) -> None:
        self.findings.found(
            "journal-damaged",
            problem,
            f"cut the journal before line {line} with `truncate -s {offset} {path}` (the run "
            f"resumes from the lines before it, and tasks whose results are cut off run again), "
            f"or correct line {line} by hand",
            run_id=run_id,
            path=path,
        )

    def _story(self, run_id: str, path: Path, lines: list[bytes], entries: list[Entry]) -> bool:
        """Whether the journal's status changes follow one another as the table allows."""
        status = RunStatus.PENDING
        for number, entry in enumerate(entries, start=1):
            if not isinstance(entry, StatusChanged):
                continue
            if entry.old != status or not can_transition(status, entry.new):
                offset = sum(len(line) + 1 for line in lines[: number - 1])
                problem = (
                    f"{path} line {number} (at byte {offset}) changes the status from "
                    f"{entry.old} to {entry.new}, but the run was {status}"
                )
                self._damaged_line(run_id, path, number, offset, problem)
                return False
            status = entry.new
        return True

    def _check_inbox(self, run_dir: Path) -> None:
        for folder in (run_dir / "inbox", run_dir / "refs"):
            self.indexes.leftovers(folder)
        for path in [run_dir / "inbox" / name for name in sorted(mail_names(run_dir / "inbox"))]:
            try:
                Mail.model_validate_json(read_file(path))
            except (OSError, ValidationError) as error:
                self.findings.found(
                    "mail-unreadable",
                    f"{path} cannot be read ({reason(error)}); the run's worker stops on it",
                    f"correct it by hand, or delete it with `rm {path}` (mail the run has not "
                    f"read yet: an event, or news of a child)",
                    run_id=run_dir.name,
                    path=path,
                )

    def _key_is_its_own(self, spec: RunSpec, entries: list[Entry]) -> bool:
        """Whether the run's idempotency key (if any) names it; a missing key is rebuilt."""
        key_path = self.store.key_path(spec)
        if key_path is None:
            return True
        try:
            holder = read_file(key_path).decode(errors="replace").strip()
        except FileNotFoundError:
            self.findings.found(
                "key-missing",
                f"run {spec.id} was started with idempotency key {spec.idempotency_key!r}, "
                f"which {key_path} does not record: that key would start a second run",
                "--repair records it",
                run_id=spec.id,
                path=key_path,
                repair=lambda: atomic_create(key_path, spec.id.encode()),
            )
            return True
        except NotRegularFile:
            return True  # the index check reports it (`key-damaged`)
        if holder == spec.id:
            return True
        run_dir = self.root / "run" / spec.id
        if not entries:
            # Its start was killed between moving the run in and taking the key, and the
            # retried start returned the holder: nobody was ever given this run's id.
            self._abandoned_start(
                spec.id,
                f"its idempotency key {spec.idempotency_key!r} went to run {holder}",
                "a worker would not execute it, and removes it too",
            )
            return False
        self.findings.found(
            "key-taken",
            f"run {spec.id} was started with idempotency key {spec.idempotency_key!r}, "
            f"which names run {holder}: a start that lost the race for the key left it behind",
            f"if run {holder} is the one to keep, move {run_dir} out of the store",
            run_id=spec.id,
            path=run_dir,
        )
        return False

    def _check_indexes(
        self, spec: RunSpec, entries: list[Entry], markers: list[str], listed: set[str]
    ) -> None:
        """The run's place in ready/, timers/ and created.log, against its journal."""
        if spec.id not in listed:
            self.findings.found(
                "not-listed",
                f"run {spec.id} is missing from index/created.log: `aiki list` does not show it",
                "--repair adds it",
                run_id=spec.id,
                path=self.root / "index" / "created.log",
                repair=lambda: self.store.indexes.log_created(spec),
            )
        if self._abandoned(spec, entries, bool(markers)):
            return
        info = summarize(spec, entries)
        self.markers.check(spec.id, info.status, info.due_at, markers)
        if not self.store.is_ready(spec.id):
            self.family.check(spec.id, info.status, entries)

    def _abandoned(self, spec: RunSpec, entries: list[Entry], timed: bool) -> bool:
        """An unkeyed run that never began, not queued and not delayed: a start (of an
        older aiki) killed before queueing it. Nobody was given its id, and whoever started
        it started again: queueing it would execute that start twice."""
        if (
            entries
            or self.store.is_ready(spec.id)
            or timed
            or spec.idempotency_key
            or spec.not_before
        ):
            return False
        self._abandoned_start(
            spec.id,
            "its start was killed before queueing it, and nobody was given its id",
            "no worker executes it",
        )
        return True

    def _abandoned_start(self, run_id: str, why: str, fate: str) -> None:
        """A run nobody was given the id of and no worker will execute: a note, which
        `--repair` removes."""
        run_dir = self.root / "run" / run_id
        self.findings.found(
            "abandoned-start",
            f"run {run_id} was never started: {why}",
            f"--repair removes it ({fate})",
            run_id=run_id,
            path=run_dir,
            repair=lambda: shutil.rmtree(run_dir),
            damage=False,
        )


def _point_record(record: Path, markers: list[str]) -> None:
    """Make a run's damaged `timer` record name its latest timer, or remove it."""
    remove(record)
    if markers:
        atomic_write(record, max(markers).encode())
