"""`aiki doctor` on a run's markers in the file store's indexes: its place in `ready/`
and its timers in `timers/`, held against the status its journal gives it."""

from __future__ import annotations

import math
from datetime import datetime

from ....model.status import RunStatus
from ...base import Timer
from ..layout import mail_names, requests_in
from .findings import Findings


class MarkerChecks:
    """A run is queued when a worker has something to do for it, and has a timer when
    it is parked until a time; anything else is reported, and `--repair` sets it right."""

    def __init__(self, findings: Findings) -> None:
        self.findings = findings
        self.store = findings.store
        self.root = findings.root

    def check(
        self, run_id: str, status: RunStatus, due: datetime | None, markers: list[str]
    ) -> None:
        self._ready_marker(run_id, status, bool(markers))
        self._timer_markers(run_id, status, due, markers)

    def _ready_marker(self, run_id: str, status: RunStatus, timed: bool) -> None:
        run_dir = self.root / "run" / run_id
        queued = self.store.is_ready(run_id)
        news = bool(requests_in(run_dir)) or bool(mail_names(run_dir / "inbox"))
        if not queued and status.wants_worker(timed=timed, news=news):
            why = "with requests or mail waiting " if status.parked else ""
            self.findings.found(
                "not-queued",
                f"run {run_id} is {status} {why}but not in ready/: no worker would take it",
                "--repair queues it",
                run_id=run_id,
                path=self.root / "ready" / run_id,
                repair=lambda: self.store.indexes.set_ready(run_id, True),
            )
        if queued and status.idle:
            # Harmless: the process that ended (or paused) it died before the steps that
            # follow (telling its parent, cancelling its children), which the next worker
            # to claim it redoes before it takes the run out. Only a pause has none left.
            self.findings.found(
                "stale-ready",
                f"run {run_id} is {status} but still in ready/",
                "a worker finishes what followed and takes it out, the next time it looks",
                run_id=run_id,
                path=self.root / "ready" / run_id,
                repair=None
                if status.terminal
                else lambda: self.store.indexes.set_ready(run_id, False),
                damage=False,
            )

    def _timer_markers(
        self, run_id: str, status: RunStatus, due: datetime | None, markers: list[str]
    ) -> None:
        run_dir = self.root / "run" / run_id
        queued = self.store.is_ready(run_id)
        if status.idle and markers:

            def unmark() -> None:
                for name in markers:
                    (self.root / "timers" / name).unlink(missing_ok=True)
                (run_dir / "timer").unlink(missing_ok=True)

            self.findings.found(
                "stale-timer",
                f"run {run_id} is {status} but still has a timer ({', '.join(markers)})",
                "--repair removes it"
                + (", as the worker that finishes the queued run would" if queued else ""),
                run_id=run_id,
                path=self.root / "timers",
                repair=unmark,
                damage=not queued,  # when it fires, it only queues the run again
            )
        if due is None or not status.parked or status == RunStatus.PAUSED:
            return
        if not any(_millis(name) <= math.ceil(due.timestamp() * 1000) for name in markers):
            self.findings.found(
                "timer-missing",
                f"run {run_id} is {status} until {due:%Y-%m-%d %H:%M:%S} UTC but has no timer "
                "in timers/: it would not wake",
                "--repair sets it",
                run_id=run_id,
                path=self.root / "timers",
                repair=lambda: self.store.indexes.replace_timer(
                    run_dir / "timer", Timer(due, "run", run_id)
                ),
            )


def _millis(timer_name: str) -> int:
    return int(timer_name.partition("-")[0])
