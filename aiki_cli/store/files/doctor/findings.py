"""The one interface doctor's checks share: `Findings`, to which each check reports a
finding (and its repair) and which tells whether a run exists; and `Examined`, the parts
of the file store the checks use (named here, so the store can call its doctor)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ....model.entry import Entry
from ....model.runinfo import RunSpec
from ....values.ids import RUN_ID
from ...report import Finding, Report
from ..indexes import Indexes
from ..roster import Roster

# Staging and temp files, and runs without a journal, younger than this may belong to a
# start or a write in progress: they are left alone.
STALE_AFTER = 60.0


class Examined(Protocol):
    """The file store, as its doctor reads and repairs it."""

    root: Path
    location: str
    indexes: Indexes
    roster: Roster

    def read_run(self, run_id: str) -> tuple[RunSpec, list[Entry]]: ...

    def read_spec(self, run_dir: Path, run_id: str, folder: int | None = None) -> RunSpec: ...

    def key_path(self, spec: RunSpec) -> Path | None: ...

    def is_ready(self, run_id: str) -> bool: ...

    def requests(self, run_id: str) -> frozenset[str]: ...


class Findings:
    """The report being made of `store` at `now`; with `repair`, each repair applied."""

    def __init__(self, store: Examined, repair: bool, now: float) -> None:
        self.store = store
        self.root = store.root
        self.repair = repair
        self.now = now
        self.report = Report(store.location)

    def found(
        self,
        kind: str,
        problem: str,
        fix: str,
        *,
        run_id: str | None = None,
        path: Path | None = None,
        repair: Callable[[], object] | None = None,
        damage: bool = True,
    ) -> None:
        """Record a finding; with --repair, apply its repair now (while any lock is held)."""
        where = None if path is None else str(path)
        finding = Finding(kind, problem, fix, run_id, where, repair is not None, damage)
        self.report.add(finding, repair if self.repair else None, _failed)

    def exists(self, run_id: str) -> bool:
        return RUN_ID.fullmatch(run_id) is not None and os.path.lexists(
            self.root / "run" / run_id / "run.json"
        )

    def stale(self, path: Path) -> bool:
        with contextlib.suppress(FileNotFoundError):
            return self.now - path.lstat().st_mtime > STALE_AFTER
        return False


def _failed(error: Exception) -> str | None:
    """Why a repair failed, for a file system refusing it."""
    return (error.strerror or str(error)) if isinstance(error, OSError) else None
