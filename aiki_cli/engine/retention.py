"""Removing finished runs (`aiki gc`, and a worker's retention): which runs may go, an
archive of them first when asked, then their removal, run by run, through the store.

A run may go when it has ended (completed, failed or cancelled, as asked), its last
change is older than the age, and its parent, if it has one, has ended too (or is gone):
a child of a running parent stays, since the parent still reads its outcome. Each run is
read, archived, then removed under its lock by the store, which refuses a run a worker
holds or one that no longer has ended (retried meanwhile); a run whose journal grew after
it was read is left for the next pass. The report names exactly the runs removed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..errors import AikiError, BadInput, IllegalTransition, RunClaimed, RunDamaged, RunNotFound
from ..model.export import RunExport
from ..model.runinfo import RunInfo
from ..model.status import RunStatus
from ..store import Store
from .archive import size, write_archive

log = logging.getLogger("aiki.gc")

ENDED = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


@dataclass(frozen=True)
class Policy:
    """Which runs go: ended in one of `statuses` more than `older_than` ago, of `workflow`
    (any when None); at most `limit` in one pass (all when None)."""

    older_than: timedelta
    statuses: Sequence[RunStatus] = ENDED
    workflow: str | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        unfinished = [str(status) for status in self.statuses if not status.terminal]
        if unfinished:
            raise BadInput(
                f"gc removes only ended runs, not {unfinished[0]} ones; "
                "pick from completed, failed, cancelled"
            )


@dataclass(frozen=True)
class Removed:
    """A run gc removed (or, on a dry run, would)."""

    id: str
    workflow: str
    version: str
    status: RunStatus
    ended_at: datetime
    bytes: int

    def document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workflow": self.workflow,
            "version": self.version,
            "status": str(self.status),
            "ended_at": self.ended_at.isoformat().replace("+00:00", "Z"),
            "bytes": self.bytes,
        }


@dataclass
class Report:
    """What a gc pass removed (or would), the bytes of their plain files, and where they
    were archived."""

    dry_run: bool
    archive: str | None = None
    runs: list[Removed] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(run.bytes for run in self.runs)

    def document(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "archive": self.archive,
            "removed": [run.document() for run in self.runs],
            "count": len(self.runs),
            "bytes": self.bytes,
        }


def collect(
    store: Store,
    policy: Policy,
    now: datetime,
    *,
    archive: Path | None = None,
    dry_run: bool = False,
) -> Report:
    """Remove the runs `policy` chooses as of `now`: archived first to the new file
    `archive` (flushed to the disk before anything is removed) when it is given."""
    chosen = list(_exports(store, policy, now))
    report = Report(dry_run, None if archive is None else str(archive))
    if dry_run:
        report.runs = [_removed(info, run) for info, run in chosen]
        return report
    if archive is not None:
        write_archive(archive, [run for _, run in chosen], now)
    for info, run in chosen:
        if _remove(store, run):
            report.runs.append(_removed(info, run))
    return report


def _exports(store: Store, policy: Policy, now: datetime) -> Iterator[tuple[RunInfo, RunExport]]:
    taken = 0
    for info in _chosen(store, policy, now - policy.older_than):
        if policy.limit is not None and taken >= policy.limit:
            return
        try:
            yield info, store.export_run(info.id)
        except (RunNotFound, RunDamaged):
            continue  # removed by another gc meanwhile, or for `aiki doctor` to look at
        taken += 1


def _chosen(store: Store, policy: Policy, cutoff: datetime) -> Iterator[RunInfo]:
    for ref in store.list_runs():
        if policy.workflow is not None and ref.workflow != policy.workflow:
            continue
        info = _summary(store, ref.id)
        if info is None or info.status not in policy.statuses or info.updated_at > cutoff:
            continue
        if _parent_ended(store, info.parent_id):
            yield info


def _summary(store: Store, run_id: str) -> RunInfo | None:
    try:
        return store.read_summary(run_id, tasks=False)
    except (RunNotFound, RunDamaged):
        return None  # a listing naming no run; a damaged run is `aiki doctor`'s


def _parent_ended(store: Store, parent_id: str | None) -> bool:
    if parent_id is None:
        return True
    try:
        return store.read_summary(parent_id, tasks=False).status.terminal
    except RunNotFound:
        return True  # removed already: nobody waits for this run's outcome
    except RunDamaged:
        return False


def _remove(store: Store, run: RunExport) -> bool:
    """Remove the run unless it changed since it was read (and archived); True if gone."""
    run_id = run.spec.id
    try:
        if len(store.read_run(run_id)[1]) != len(run.journal):
            return False  # retried meanwhile: what was archived is no longer the run
        store.remove_run(run_id)
    except (RunClaimed, IllegalTransition, RunNotFound):
        return False  # a worker holds it, it was retried, or another gc took it
    except AikiError as error:
        log.warning("run %s was not removed: %s", run_id, error)
        return False
    return True


def _removed(info: RunInfo, run: RunExport) -> Removed:
    return Removed(info.id, info.workflow, info.version, info.status, info.updated_at, size(run))
