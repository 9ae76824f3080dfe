"""The file store's indexes of runs: the ready queue (ready/), the timers (timers/) and
the creation log (index/created.log), which workers and `list` read instead of run/."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ...model.runinfo import RunSpec
from ...values.ids import RUN_ID
from ..base import Timer
from .layout import LEAVING, REMOVED, ends_torn, parse_timer, timer_in, timer_name
from .syncio import FILE_MODE, atomic_write, fsync_dir, make_dirs, open_regular, write_all

log = logging.getLogger("aiki.store")

# A listing of timers/ is reused while the folder's change time stays as it was, except one
# taken within this many seconds of that change: a timer added in the same tick of the file
# system's clock, after the listing, leaves the change time as it was.
_SETTLED = 1.0


class Indexes:
    """The queue, the timers and the creation log of the store at `root`."""

    def __init__(self, root: Path, location: str) -> None:
        self.root = root
        self.location = location
        self._laid_out = False
        self._strays: set[str] = set()
        self._timers: tuple[tuple[int, int, int], list[str]] | None = None

    def lay_out(self) -> None:
        """Make the store's folders, once."""
        if not self._laid_out:
            for sub in ("run", "ready", "timers", "schedules", "index/keys", "tmp", "workers"):
                make_dirs(self.root / sub)
            self._laid_out = True

    def log_created(self, spec: RunSpec) -> None:
        """Add the run to index/created.log, which `list` reads."""
        self._log(f"{spec.id} {spec.ref}\n".encode())

    def _log(self, line: bytes) -> None:
        fd = open_regular(self.root / "index" / "created.log", os.O_RDWR | os.O_APPEND | os.O_CREAT)
        try:
            # After a crash cut the last line short, start a new one rather than extend it.
            lead = b"\n" if ends_torn(fd) else b""
            write_all(fd, lead + line)
        finally:
            os.close(fd)

    def log_removed(self, run_id: str) -> None:
        """Mark the run removed in index/created.log: `list` passes over it from then on."""
        self._log(f"{run_id} {REMOVED}\n".encode())

    def ready_runs(self) -> list[str]:
        try:
            names = os.listdir(self.root / "ready")
        except FileNotFoundError:
            return []
        # A run being taken out of the queue (`leave_queue`) is still queued.
        queued = {name.removesuffix(LEAVING) for name in names if not name.startswith(".")}
        strays = {name for name in queued if not RUN_ID.fullmatch(name)}
        for name in strays:
            self.stray(f"ready/{name}", "it names no run")
        return sorted(queued - strays)

    def is_ready(self, run_id: str) -> bool:
        marker = os.path.join(self.root, "ready", run_id)
        return os.access(marker, os.F_OK) or os.access(marker + LEAVING, os.F_OK)

    def leave_queue(self, run_id: str, news: Callable[[], bool]) -> None:
        """Out of ready/ unless `news()`. The marker is first renamed to `<id>.leaving`,
        which workers treat as queued: a process dying at any point leaves one of the two
        names, and a sender who queues the run meanwhile finds `<id>` free to link."""
        marker = os.path.join(self.root, "ready", run_id)
        with contextlib.suppress(FileNotFoundError):
            os.rename(marker, marker + LEAVING)
        if news():
            self.set_ready(run_id, True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(marker + LEAVING)

    def set_ready(self, run_id: str, ready: bool) -> None:
        marker = os.path.join(self.root, "ready", run_id)
        if not ready:
            try:
                os.unlink(marker)
            except FileNotFoundError:  # perhaps a dying `leave_queue` left its other name
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(marker + LEAVING)
            return
        self.lay_out()
        # A hard link, not a new file: linking costs no inode, which creating one does.
        with contextlib.suppress(FileExistsError):
            os.link(os.path.join(self.root, "run", run_id, "run.json"), marker)
            fsync_dir(self.root / "ready")

    def stray(self, name: str, why: str) -> None:
        """Log, once, a file of the indexes that is none of aiki's: it is skipped."""
        if name not in self._strays:
            self._strays.add(name)
            log.warning("skipping %s in %s: %s; `aiki doctor` reports it", name, self.location, why)

    def timer_names(self) -> list[str]:
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
        for name in self.timer_names():
            timer = parse_timer(name)
            if timer is None:
                self.stray(f"timers/{name}", "it is not a timer's name")
                continue
            if timer.due > now:
                break
            due.append(timer)
        return due

    def next_due(self) -> datetime | None:
        timers = (parse_timer(name) for name in self.timer_names())
        return next((timer.due for timer in timers if timer is not None), None)

    def clear_timer(self, timer: Timer) -> None:
        (self.root / "timers" / timer_name(timer)).unlink(missing_ok=True)

    def replace_timer(self, record: Path, timer: Timer | None) -> None:
        """Point `record` (the file naming a run's or schedule's timer) at `timer`: the new
        marker first, then the record, then the old marker goes. A process dying at any
        point leaves a marker that fires (perhaps early, which firing checks), never none."""
        old = timer_in(record)
        if timer is None:
            if old is not None:
                (self.root / "timers" / old).unlink(missing_ok=True)
            record.unlink(missing_ok=True)
            return
        self.lay_out()
        name = timer_name(timer)
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

    def armed(self, record: Path) -> bool:
        name = timer_in(record)
        return name is not None and os.access(self.root / "timers" / name, os.F_OK)


def _folder_stamp(folder: Path) -> tuple[int, int, int]:
    """What changes when a name is added to or removed from `folder`: its inode and its
    modification and change times (ns; the change time is last)."""
    info = os.stat(folder)
    return info.st_ino, info.st_mtime_ns, info.st_ctime_ns
