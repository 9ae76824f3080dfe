"""Doctor's checks between runs: a parent and its children must agree.

A run that ends tells its parent, and a cancelled run cancels its children; both are
steps after the journal entry, which a process dying midway leaves undone. The run stays
queued until they are done, so the next worker redoes them; these checks find what
nothing would ever redo (a store written before that rule, or a queue marker deleted by
hand), and `--repair` queues the run so that a worker does.
"""

from __future__ import annotations

from datetime import datetime

from ....errors import AikiError
from ....model.entry import ChildStarted, Entry
from ....model.journal import last_status, summarize
from ....model.status import RunStatus
from ..layout import mail_names
from .findings import Findings


class FamilyChecks:
    def __init__(self, findings: Findings) -> None:
        self.findings = findings
        self.store = findings.store

    def check(self, run_id: str, status: RunStatus, entries: list[Entry]) -> None:
        """Check the run (not queued, `status`, journal `entries`) against its children."""
        if status not in (RunStatus.AWAITING_CHILD, RunStatus.CANCELLED):
            return
        children = [entry.child for entry in entries if isinstance(entry, ChildStarted)]
        if status == RunStatus.CANCELLED:
            self._cancelled(run_id, children)
        else:
            self._awaiting(run_id, entries, children)

    def _cancelled(self, run_id: str, children: list[str]) -> None:
        alive = [child for child in children if self._ended(child) is None]
        if alive:
            self._found(
                "children-alive",
                f"run {run_id} is cancelled, but its children {', '.join(alive)} are not, "
                "and no worker would cancel them",
                run_id,
            )

    def _awaiting(self, run_id: str, entries: list[Entry], children: list[str]) -> None:
        parked = last_status(entries)
        if parked is None or self.store.requests(run_id) or self._has_mail(run_id):
            return
        unheard = [
            child
            for child in children
            if (ended := self._ended(child)) is not None
            and ended > parked.at
            and not self.store.is_ready(child)
        ]
        if unheard:
            self._found(
                "parent-stranded",
                f"run {run_id} awaits its children, and {', '.join(unheard)} ended without "
                "telling it: no worker would wake it",
                run_id,
            )

    def _ended(self, run_id: str) -> datetime | None:
        """When the run ended; None if it has not (or cannot be read)."""
        try:
            spec, entries = self.store.read_run(run_id)
        except (AikiError, LookupError, OSError):
            return None
        last = last_status(entries)
        return last.at if last is not None and summarize(spec, entries).status.terminal else None

    def _has_mail(self, run_id: str) -> bool:
        return bool(mail_names(self.store.root / "run" / run_id / "inbox"))

    def _found(self, kind: str, problem: str, run_id: str) -> None:
        self.findings.found(
            kind,
            problem,
            "--repair queues it, and the next worker finishes what was left undone",
            run_id=run_id,
            path=self.findings.root / "ready" / run_id,
            repair=lambda: self.store.indexes.set_ready(run_id, True),
        )
