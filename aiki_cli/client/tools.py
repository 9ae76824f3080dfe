"""A client's tools around whole runs: replay check, fork, export and import, copying to
another store, gc and restore (`engine/replay_check`, `fork`, `transfer`, `retention`),
and the store's doctor."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engine import retention, transfer
from ..model.export import RunExport
from ..model.runinfo import ForkOrigin
from ..store import Report, Store, open_store
from ..values.clock import Clock

if TYPE_CHECKING:  # replaying and forking run workflow code: imported by those calls alone
    from ..authoring.workflow import WorkflowVersion
    from ..engine.fork import ForkPlan
    from ..engine.replay_check import ReplayReport


class RunTools:
    """The calls of `Client` on whole runs."""

    store: Store
    clock: Clock

    async def replay_check(
        self, workflows: Mapping[str, WorkflowVersion], run_ids: Sequence[str] = (), **only: Any
    ) -> builtins.list[ReplayReport]:
        """Replay runs against `workflows` (versions by `name@version`), executing and
        writing nothing: those of `run_ids` and exported ones (`journals=`), or else every
        unfinished run; `workflow=`, `version=`, `statuses=` narrow them (`check_runs`)."""
        from ..engine import replay_check

        return await replay_check.check_runs(self.store, workflows, self.clock, run_ids, **only)

    async def fork(
        self,
        run_id: str,
        task: str,
        call: int = 1,
        *,
        code: WorkflowVersion,
        input: Any = ...,
        dry_run: bool = False,
    ) -> ForkPlan:
        """A run of `code` (a version of the run's workflow) reusing what the run recorded
        before its `call`-th call of `task`, executing from there; `input` replaces the
        run's own, `dry_run` only plans. Its plan: `.run_id`, `.calls`, `.then`."""
        from ..engine import fork as forking

        origin = ForkOrigin(run_id=run_id, task=task, call=call)
        return await forking.fork(self.store, self.clock, origin, code, input, dry_run=dry_run)

    async def export_run(self, run_id: str) -> RunExport:
        """The run as one document (spec, journal, unread mail, requests)."""
        return self.store.export_run(run_id)

    async def import_run(self, run: RunExport, *, new_id: bool = False) -> str:
        """Store an exported run (with `new_id`, under a new id); its id here."""
        return transfer.import_run(self.store, run, self.clock, new_id=new_id)

    async def copy_to(
        self, target: str | Path | Store, ids: Sequence[str] = (), *, statuses: Sequence[str] = ()
    ) -> builtins.list[str]:
        """Copy the runs named (else those in `statuses`, else all) to `target`; their ids."""
        return transfer.copy_to(self.store, open_store(target), ids, statuses)

    async def gc(self, policy: retention.Policy, **options: Any) -> retention.Report:
        """Remove the runs `policy` picks (`archive=PATH`, `dry_run=True`), in a thread."""
        import asyncio  # here: a client that only reads runs needs no event loop

        now = self.clock.now()
        return await asyncio.to_thread(retention.collect, self.store, policy, now, **options)

    async def restore(self, archive: Path, *, skip_existing: bool = False) -> builtins.list[str]:
        """Bring the runs of a gc archive back; the ids restored."""
        return transfer.restore(self.store, archive, skip_existing=skip_existing)

    async def doctor(self, *, repair: bool = False) -> Report:
        """Check every run of the store against what is derived from it; with `repair`,
        rebuild what is derived (journals are never changed). What `aiki doctor` prints."""
        return self.store.examine(repair=repair)
