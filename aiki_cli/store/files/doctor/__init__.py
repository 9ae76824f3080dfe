"""`aiki doctor` for the file store: check every run and index, and rebuild the derived.

`examine` is the entry point. Each check reports to one `Findings` (the report being
made): `runs` checks each run, `markers` its place in the queue and its timers,
`indexes` the store-wide indexes and leftovers, `family` parents against their children.
"""

from __future__ import annotations

import time

from ...report import Finding, Report
from .family import FamilyChecks
from .findings import Examined, Findings
from .indexes import IndexChecks
from .runs import RunChecks

__all__ = ["Finding", "Report", "examine"]


def examine(store: Examined, *, repair: bool = False, now: float | None = None) -> Report:
    """Check every run and index of the file store `store`; with `repair`, fix what can be
    fixed safely. `FileStore.examine` calls it."""
    findings = Findings(store, repair, time.time() if now is None else now)
    indexes = IndexChecks(findings)
    if store.root.is_dir():
        RunChecks(findings, indexes, FamilyChecks(findings)).check()
    return findings.report
