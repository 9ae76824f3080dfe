"""Moving runs between stores (`aiki copy`) and into one (`aiki import`, `aiki restore`),
through the contract's `export_run` and `import_run`, so any two stores can trade runs.

A run is copied while the source's claim on it is held: no worker executes it meanwhile,
so the journal copied is the journal as it stands; a run a worker holds is refused, by
name. Copying is not moving: the source keeps the run (remove it there once the copy is
in use, or stop the source's workers first, or both stores will execute it).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import RunClaimed, RunExists
from ..model.export import RunExport
from ..store import Store
from ..values.clock import Clock
from ..values.ids import check_run_id, new_run_id
from .archive import read_archive


def copy_to(
    source: Store, target: Store, run_ids: Sequence[str], statuses: Sequence[str]
) -> list[str]:
    """Copy the runs named, else those in `statuses` (every run when none); the ids."""
    return copy_runs(source, target, chosen(source, run_ids, statuses))


def chosen(source: Store, run_ids: Sequence[str], statuses: Sequence[str]) -> list[str]:
    """The runs named, checked; else the runs in `statuses` (every run when none), oldest
    first, so a parent is copied before its children."""
    if run_ids:
        return [check_run_id(run_id) for run_id in run_ids]
    ids = [ref.id for ref in source.list_runs()]
    if statuses:
        ids = [i for i in ids if source.read_summary(i, tasks=False).status in statuses]
    return ids[::-1]


def copy_runs(source: Store, target: Store, run_ids: Iterable[str]) -> list[str]:
    """Copy each run from `source` to `target`, whatever its status; the ids copied.
    Checks every run first (none claimed, none in `target`), so a refusal writes
    nothing (but for a run a worker claims between that check and its copy);
    `RunClaimed`, `RunExists`, `RunNotFound`, `RunDamaged`."""
    ids = list(run_ids)
    for run_id in ids:
        _check_free(target, run_id)
        _check_unclaimed(source, run_id)
    copied = []
    for run_id in ids:
        claim = source.claim(run_id)
        if claim is None:
            raise RunClaimed(run_id, source.location)
        try:
            target.import_run(source.export_run(run_id))
        finally:
            claim.release()
        copied.append(run_id)
    return copied


def _check_unclaimed(source: Store, run_id: str) -> None:
    """`RunClaimed` when a worker holds the run now (a claim taken later is refused when
    the run's turn comes, after the runs before it were copied)."""
    claim = source.claim(run_id)
    if claim is None:
        raise RunClaimed(run_id, source.location)
    claim.release()


def _check_free(target: Store, run_id: str) -> None:
    if _present(target, run_id):
        raise RunExists(run_id, target.location, "remove it there first, or copy the others")


def import_run(target: Store, run: RunExport, clock: Clock, *, new_id: bool = False) -> str:
    """Store the exported run in `target`; with `new_id`, under a new id (and without its
    idempotency key, which stays with the run that has it). The id it has there."""
    if new_id:
        run = run.with_id(new_run_id(clock.now(), secrets.token_bytes(10)))
    target.import_run(run)
    return run.spec.id


def restore(target: Store, archive: Path, *, skip_existing: bool = False) -> list[str]:
    """Bring the runs of the gc archive `archive` back into `target`; their ids.
    `RunExists` (and nothing written) when the store has one of them, unless
    `skip_existing`, which leaves those."""
    runs = read_archive(archive)
    present = [run.spec.id for run in runs if _present(target, run.spec.id)]
    if present and not skip_existing:
        more = f" and {len(present) - 1} more" if len(present) > 1 else ""
        hint = "remove it first, or pass --skip-existing to restore the others"
        raise RunExists(f"{present[0]}{more}", target.location, hint)
    restored = []
    for run in runs:
        if run.spec.id not in present:
            target.import_run(run)
            restored.append(run.spec.id)
    return restored


def _present(target: Store, run_id: str) -> bool:
    try:
        target.read_run(run_id)
    except LookupError:
        return False
    return True
