"""The harness runs each scenario on the store the tier names (`conftest.STORES`), and a
durable store keeps what the run wrote for the next process to read."""

from __future__ import annotations

import asyncio

from reminders import reminder, reminder_v1

from aiki_cli import Client, FileStore, MemoryStore, RunStatus
from aiki_cli.testing import Harness

KINDS = {"memory": MemoryStore, "file": FileStore}


def test_the_harness_runs_on_the_store_it_is_given(store: str, store_kind: str) -> None:
    async def scenario() -> str:
        harness = Harness([reminder], store=store)
        assert type(harness.store) is KINDS[store_kind]
        handle = await harness.start(reminder_v1, {"user": "ada", "text": "hi"}, delay="1h")
        await harness.run_until_idle()
        assert (await handle.get_status()).status == RunStatus.COMPLETED
        return handle.id

    run_id = asyncio.run(scenario())
    if store_kind != "memory":  # another client of the same location reads the run back
        assert asyncio.run(Client(store).get(run_id)).status == RunStatus.COMPLETED
