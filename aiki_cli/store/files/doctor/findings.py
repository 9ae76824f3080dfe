"""What doctor found, and the one interface its checks share: `Findings`, to which each
check reports a finding (and its repair) and which tells whether a run exists."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ....values.ids import RUN_ID
from ..store import FileStore

# Staging and temp files, and runs without a journal, younger than this may belong to a
# start or a write in progress: they are left alone.
STALE_AFTER = 60.0


@dataclass
class Finding:
    """One thing wrong in the store: what, where, how to fix it, and whether `--repair` can."""

    kind: str
    problem: str
    fix: str
    run_id: str | None = None
    path: str | None = None
    repairable: bool = False
    damage: bool = True  # False for what is harmless (a note)
    repaired: bool = False


@dataclass
class Report:
    store: str
    runs: int = 0
    busy: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def remaining(self) -> list[Finding]:
        """The damage that is still there."""
        return [finding for finding in self.findings if finding.damage and not finding.repaired]

    @property
    def healthy(self) -> bool:
        return not self.remaining

    def document(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "healthy": self.healthy,
            "runs": self.runs,
            "busy": self.busy,
            "findings": [asdict(finding) for finding in self.findings],
        }


class Findings:
    """The report being made of `store` at `now`; with `repair`, each repair applied."""

    def __init__(self, store: FileStore, repair: bool, now: float) -> None:
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
        finding = Finding(
            kind, problem, fix, run_id, None if path is None else str(path), repair is not None
        )
        finding.damage = damage
        if self.repair and repair is not None:
            try:
                repair()
                finding.repaired = True
            except OSError as error:
                finding.problem += f" (the repair failed: {error.strerror or error})"
        self.report.findings.append(finding)

    def exists(self, run_id: str) -> bool:
        return RUN_ID.fullmatch(run_id) is not None and os.path.lexists(
            self.root / "run" / run_id / "run.json"
        )

    def stale(self, path: Path) -> bool:
        with contextlib.suppress(FileNotFoundError):
            return self.now - path.lstat().st_mtime > STALE_AFTER
        return False
