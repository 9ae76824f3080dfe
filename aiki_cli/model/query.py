"""Which runs a listing wants: by status, workflow and version, a creation time range and
text in the run's id or idempotency key. What a face asks `Client.query` for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .runinfo import DamagedRun, RunInfo
from .status import RunStatus


@dataclass(frozen=True)
class RunQuery:
    """Every field left None admits every run."""

    status: RunStatus | None = None
    workflow: str | None = None
    version: str | None = None
    text: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None

    def admits_ref(self, workflow: str, version: str) -> bool:
        """Whether a run of `workflow@version` may be wanted, before reading it."""
        if self.workflow and workflow != self.workflow:
            return False
        return not (self.version and version != self.version)

    def admits(self, row: RunInfo | DamagedRun) -> bool:
        """Whether the run read is wanted; a damaged one only when no status, time or
        key is asked for (it has none to match)."""
        if isinstance(row, DamagedRun):
            timed = self.created_from or self.created_to
            return self.status is None and not timed and self._text_in(row.id, None)
        if self.status is not None and row.status != self.status:
            return False
        if self.created_from is not None and row.created_at < self.created_from:
            return False
        if self.created_to is not None and row.created_at > self.created_to:
            return False
        return self._text_in(row.id, row.idempotency_key)

    def _text_in(self, run_id: str, key: str | None) -> bool:
        if not self.text:
            return True
        needle = self.text.casefold()
        return needle in run_id.casefold() or needle in (key or "").casefold()
