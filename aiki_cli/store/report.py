"""What `aiki doctor` reports about a store, whichever store it is: each `Finding` (what is
wrong, how to fix it, whether `--repair` can and did) and the `Report` that holds them.

Every store's `examine` returns a `Report`; the client hands it on and the CLI draws it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


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
    """What one examination of the store at `store` found among its `runs` runs; `busy`
    are the runs a live worker held, which were left alone."""

    store: str
    runs: int = 0
    busy: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def add(
        self,
        finding: Finding,
        repair: Callable[[], object] | None,
        failed: Callable[[Exception], str | None],
    ) -> None:
        """Record `finding`, running `repair` first when given (with `--repair`). An
        exception `failed` describes (it returns None for one it does not know) leaves the
        finding unrepaired, saying why in its problem."""
        if repair is not None:
            try:
                repair()
                finding.repaired = True
            except Exception as error:
                why = failed(error)
                if why is None:
                    raise
                finding.problem += f" (the repair failed: {why})"
        self.findings.append(finding)

    @property
    def remaining(self) -> list[Finding]:
        """The damage that is still there."""
        return [finding for finding in self.findings if finding.damage and not finding.repaired]

    @property
    def healthy(self) -> bool:
        return not self.remaining

    def document(self) -> dict[str, Any]:
        """The report as `aiki doctor --json` prints it."""
        return {
            "store": self.store,
            "healthy": self.healthy,
            "runs": self.runs,
            "busy": self.busy,
            "findings": [asdict(finding) for finding in self.findings],
        }
