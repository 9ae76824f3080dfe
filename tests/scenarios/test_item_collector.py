"""An event loop ended by a timeout: `item-collector@1.0.0` (workflows/item_collector.py)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from item_collector import collector_v1, item_collector

from aiki_cli import RunStatus
from aiki_cli.store import Store
from aiki_cli.testing import START, Harness

from .support import journal

A1 = {"sku": "A-1", "quantity": 2}
B7 = {"sku": "B-7", "quantity": 1}
A1_AGAIN = {"sku": "A-1", "quantity": 3}


def test_items_are_collected_until_a_wait_times_out(store: Store) -> None:
    async def scenario() -> None:
        harness = Harness([item_collector], store=store)
        handle = await harness.start(collector_v1, {"batch": "b-1", "quiet_period": "10m"})
        await harness.advance("1m")
        assert (await handle.get_status()).status == RunStatus.AWAITING_EVENT

        for item, gap in ((A1, "9m"), (B7, "9m"), (A1_AGAIN, "9m")):
            await harness.send(handle, "item", item)
            await harness.advance(gap)  # each gap shorter than the quiet period
            assert (await handle.get_status()).status == RunStatus.AWAITING_EVENT

        await harness.run_until_idle()

        info = await handle.get_status()
        assert info.status == RunStatus.COMPLETED
        assert info.result == {
            "items": [A1, B7, A1_AGAIN],
            "batch": "b-1",
            "lines": 3,
            "totals": {"A-1": 5, "B-7": 1},
        }
        # The last item came at 1m + 9m + 9m; the run ended one quiet period after it.
        assert info.updated_at == START + timedelta(minutes=19 + 10)
        timeouts = await journal(handle, "event_timeout")
        assert len(timeouts) == 1, "only the last wait timed out"

    asyncio.run(scenario())


def test_a_collector_that_gets_nothing_times_out_with_an_empty_batch(store: Store) -> None:
    async def scenario() -> None:
        harness = Harness([item_collector], store=store)
        handle = await harness.start(collector_v1, {"batch": "empty"})
        await harness.run_until_idle()
        assert await handle.wait_for_completion() == {
            "items": [],
            "batch": "empty",
            "lines": 0,
            "totals": {},
        }
        assert harness.clock.now() == START + timedelta(minutes=10), "the default quiet period"

    asyncio.run(scenario())


def test_items_sent_before_the_first_wait_are_kept_in_order(store: Store) -> None:
    async def scenario() -> None:
        harness = Harness([item_collector], store=store)
        handle = await harness.start(collector_v1, {"batch": "early"})
        assert await harness.send(handle, "item", A1)
        harness.clock.advance("1s")
        assert await harness.send(handle, "item", B7)
        assert (await handle.get_status()).status == RunStatus.PENDING

        await harness.run_until_idle()

        result = await handle.wait_for_completion()
        assert result["items"] == [A1, B7]

    asyncio.run(scenario())


def test_a_reference_id_sent_twice_is_delivered_once(store: Store) -> None:
    async def scenario() -> None:
        harness = Harness([item_collector], store=store)
        handle = await harness.start(collector_v1, {"batch": "dedup"})
        await harness.advance("1m")

        assert await harness.send(handle, "item", A1, reference_id="line-1") is True
        # Again while it waits in the run's inbox, and once more after it was journaled.
        assert await harness.send(handle, "item", A1, reference_id="line-1") is False
        await harness.advance("1m")
        assert await harness.send(handle, "item", A1, reference_id="line-1") is False
        assert await harness.send(handle, "item", B7, reference_id="line-2") is True
        await harness.run_until_idle()

        result = await handle.wait_for_completion()
        assert result["items"] == [A1, B7]
        received = await journal(handle, "event_received")
        assert [entry.reference_id for entry in received] == ["line-1", "line-2"]

    asyncio.run(scenario())


def test_events_sent_at_the_same_instant_are_taken_in_the_order_sent(store: Store) -> None:
    async def scenario() -> None:
        harness = Harness([item_collector], store=store)
        handle = await harness.start(collector_v1, {"batch": "same-instant"})
        # The clock does not move between the sends, as two sends in one tick of a
        # coarse system clock. ("first" hashes after "second".)
        await harness.send(handle, "item", A1, reference_id="first")
        await harness.send(handle, "item", B7, reference_id="second")
        await harness.run_until_idle()

        result = await handle.wait_for_completion()
        assert result["items"] == [A1, B7]

    asyncio.run(scenario())
