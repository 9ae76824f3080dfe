"""Doctor's store-wide checks: the indexes derived from the runs (ready/, timers/,
schedules, index/created.log, index/keys/) against the runs that exist, and what crashes
and dead workers leave behind. The checks of each run itself are in `runs`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections import defaultdict
from functools import partial
from pathlib import Path

from pydantic import ValidationError

from ....errors import AikiError
from ....model.schedule import Schedule
from ....values.ids import RUN_ID
from ...base import Timer
from ..layout import LEAVING, parse_timer, reason
from ..roster import LOCK
from ..syncio import NotRegularFile, atomic_create, read_file, read_lines
from .findings import Findings


class IndexChecks:
    def __init__(self, findings: Findings) -> None:
        self.findings = findings
        self.root = findings.root
        self.store = findings.store

    def check(self, listed: set[str]) -> None:
        """Every store-wide check; `listed`: the run ids index/created.log holds."""
        self._ready()
        self._timers()
        self._schedules()
        self._created_log(listed)
        self._keys()
        self.leftovers(self.root / "tmp", every=True)
        for folder in ("schedules", "index/keys", "workers"):
            self.leftovers(self.root / folder)
        self._workers()

    def timer_markers(self) -> dict[str, list[str]]:
        """The names in timers/ by the run they wake."""
        markers: defaultdict[str, list[str]] = defaultdict(list)
        for name in names(self.root / "timers"):
            timer = parse_timer(name)
            if timer is not None and timer.kind == "run":
                markers[timer.target].append(name)
        return markers

    def _ready(self) -> None:
        for name in names(self.root / "ready"):
            run_id = name.removesuffix(LEAVING)
            if not self.findings.exists(run_id):
                marker = self.root / "ready" / name
                self.findings.found(
                    "orphan-ready",
                    f"ready/{name} names no run (a start killed before it moved the run in, "
                    "say); workers skip it",
                    "--repair removes it",
                    run_id=run_id,
                    path=marker,
                    repair=partial(self._unlink_orphan, marker, run_id),
                    damage=False,
                )

    def _unlink_orphan(self, path: Path, run_id: str) -> None:
        if not self.findings.exists(run_id):  # looked at again: a start may have made it since
            path.unlink(missing_ok=True)

    def _timers(self) -> None:
        for name in names(self.root / "timers"):
            path = self.root / "timers" / name
            timer = parse_timer(name)
            if timer is None:
                self.findings.found(
                    "orphan-timer",
                    f"timers/{name} is not a timer's name",
                    "--repair removes it",
                    path=path,
                    repair=path.unlink,
                )
            elif timer.kind == "run" and not self.findings.exists(timer.target):
                self.findings.found(
                    "orphan-timer",
                    f"timers/{name} wakes run {timer.target}, which does not exist; "
                    "workers remove it when it is due",
                    "--repair removes it",
                    run_id=timer.target,
                    path=path,
                    repair=partial(self._unlink_orphan, path, timer.target),
                    damage=False,
                )
            elif timer.kind == "schedule" and not self._schedule_path(timer.target).is_file():
                self.findings.found(
                    "orphan-timer",
                    f"timers/{name} fires schedule {timer.target}, which does not exist "
                    "(a `schedule add` killed midway, say); workers remove it when it is due",
                    "--repair removes it",
                    path=path,
                    repair=path.unlink,
                    damage=False,
                )

    def _schedule_path(self, schedule_id: str) -> Path:
        return self.root / "schedules" / f"{schedule_id}.json"

    def _schedules(self) -> None:
        timers = [parse_timer(name) for name in names(self.root / "timers")]
        fired = {timer.target for timer in timers if timer and timer.kind == "schedule"}
        for path in sorted((self.root / "schedules").glob("*.json")):
            try:
                schedule = Schedule.model_validate_json(read_file(path))
            except (OSError, ValidationError) as error:
                self.findings.found(
                    "schedule-unreadable",
                    f"{path} cannot be read ({reason(error)}); workers stop firing schedules",
                    f"correct it by hand, or delete the schedule with "
                    f"`aiki schedule remove {path.stem}`",
                    path=path,
                )
                continue
            if not schedule.paused and schedule.id not in fired:
                timer = Timer(schedule.next_due, "schedule", schedule.id)
                self.findings.found(
                    "timer-missing",
                    f"schedule {schedule.id} has no timer in timers/: it would not fire",
                    "--repair sets it",
                    path=path,
                    repair=partial(self._set_timer, path, timer),
                )

    def _set_timer(self, schedule_path: Path, timer: Timer) -> None:
        self.store.indexes.replace_timer(schedule_path.with_suffix(".timer"), timer)

    def created(self) -> list[bytes]:
        return read_lines(self.root / "index" / "created.log")[0]

    def _created_log(self, listed: set[str]) -> None:
        gone = sorted(
            run_id
            for run_id in listed
            if RUN_ID.fullmatch(run_id) and not self.findings.exists(run_id)
        )
        if gone:
            self.findings.found(
                "stale-index",
                f"index/created.log lists {len(gone)} run(s) that do not exist "
                f"({', '.join(gone[:3])}{', …' if len(gone) > 3 else ''})",
                "none needed: `aiki list` skips them",
                path=self.root / "index" / "created.log",
                damage=False,
            )

    def _keys(self) -> None:
        folder = self.root / "index" / "keys"
        for name in names(folder):
            path = folder / name
            try:
                run_id = read_file(path).decode(errors="replace").strip()
            except NotRegularFile as error:
                self.findings.found(
                    "key-damaged",
                    f"{error}, where an idempotency key's run is recorded: a start with that "
                    "key fails",
                    "--repair records there the first run started with that key",
                    path=path,
                    repair=partial(self._rerecord_key, path),
                )
                continue
            except OSError:
                continue
            if not self.findings.exists(run_id):
                self.findings.found(
                    "orphan-key",
                    f"{path} names run {run_id[:40]!r}, which does not exist: a start with "
                    "that idempotency key fails",
                    "--repair removes it (the key then starts a new run)",
                    path=path,
                    repair=partial(self._unlink_orphan, path, run_id),
                )

    def _rerecord_key(self, path: Path) -> None:
        """Replace what stands at `path` with the record of the first run (ids sort by
        time) started with the key whose record belongs there; with nothing, if none was."""
        remove(path)
        for run_id in names(self.root / "run"):
            with contextlib.suppress(OSError, AikiError):
                spec = self.store.read_spec(self.root / "run" / run_id, run_id)
                if self.store.key_path(spec) == path:
                    atomic_create(path, run_id.encode())
                    return

    def leftovers(self, folder: Path, *, every: bool = False) -> None:
        """Temp files (`.*.tmp`; with `every`, anything) a crash left in `folder`."""
        for name in names(folder, hidden=True):
            path = folder / name
            if (every or (name.startswith(".") and name.endswith(".tmp"))) and self.findings.stale(
                path
            ):
                self.findings.found(
                    "leftover",
                    f"{path} was left behind by a write that did not finish",
                    "--repair removes it",
                    path=path,
                    repair=partial(remove, path),
                    damage=False,
                )

    def _workers(self) -> None:
        roster = self.store.roster
        for worker_id in roster.gone():
            self.findings.found(
                "worker-gone",
                f"worker {worker_id} is gone but left its files in {roster.folder}",
                "--repair removes them (so does the next worker to start)",
                path=roster.folder / f"{worker_id}{LOCK}",
                repair=partial(roster.clear, worker_id),
                damage=False,
            )


def names(folder: Path, *, hidden: bool = False) -> list[str]:
    try:
        found = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(name for name in found if hidden or not name.startswith("."))


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
