"""`Client.doctor`: what `aiki doctor` prints comes from the store's own `examine`,
whichever store it is, through the client (the CLI names no concrete store)."""

from __future__ import annotations

import asyncio

from aiki_cli import Client, MemoryStore, Run, workflow
from aiki_cli.store import Finding, Report


@workflow("noop").v("1.0.0")
async def noop(run: Run, data: None) -> None:
    return None


class DamagedStore(MemoryStore):
    """A memory store whose examination finds one repairable thing, and repairs it."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[bool] = []

    def examine(self, *, repair: bool = False) -> Report:
        self.asked.append(repair)
        report = super().examine(repair=repair)
        report.findings.append(Finding("not-queued", "run x", "--repair", repairable=True))
        report.findings[0].repaired = repair
        return report


def test_the_client_reports_what_the_memory_store_holds() -> None:
    client = Client(MemoryStore())
    started = asyncio.run(client.start(noop, None))
    report = asyncio.run(client.doctor())
    assert (report.store, report.runs, report.busy, report.healthy) == (":memory:", 1, [], True)
    assert report.document()["runs"] == 1
    assert asyncio.run(started.get_status()).status == "pending"  # doctor executes nothing


def test_the_client_passes_repair_to_the_store_and_hands_back_its_report() -> None:
    store = DamagedStore()
    client = Client(store)
    found = asyncio.run(client.doctor())
    assert not found.healthy and [f.kind for f in found.remaining] == ["not-queued"]
    repaired = asyncio.run(client.doctor(repair=True))
    assert repaired.healthy and repaired.findings[0].repaired
    assert store.asked == [False, True]
