"""The harness runs each scenario on the store the tier names (`conftest.STORES`), and a
durable store keeps what the run wrote for the next process to read."""

from __future__ import annotations

import asyncio

from reminders import reminder, reminder_v1

from aiki_cli import Client, FileStore, MemoryStore, RunStatus
from aiki_cli.store import Store, open_store
from aiki_cli.store.postgres.store import PostgresStore
from aiki_cli.testing import Harness

KINDS = {"memory": MemoryStore, "file": FileStore, "postgresql": PostgresStore}


def test_the_harness_runs_on_the_store_it_is_given(
    store: Store, store_kind: str, store_location: str
) -> None:
    async def scenario() -> str:
        harness = Harness([reminder], store=store)
        assert type(harness.store) is KINDS[store_kind]
        handle = await harness.start(reminder_v1, {"user": "ada", "text": "hi"}, delay="1h")
        await harness.run_until_idle()
        assert (await handle.get_status()).status == RunStatus.COMPLETED
        return handle.id

    run_id = asyncio.run(scenario())
    if store_kind != "memory":  # a store opened at the same location reads the run back
        again = open_store(store_location)
        try:
            assert asyncio.run(Client(again).get(run_id)).status == RunStatus.COMPLETED
        finally:
            getattr(again, "close", lambda: None)()
