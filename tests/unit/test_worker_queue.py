"""The worker's view of the ready queue: one listing serves several passes, so runs that
another worker executed since are skipped without a claim, and runs queued since are
seen within a poll interval; a worker that finds another at work in its listing goes on
from elsewhere in it. It claims as many runs at once as it has room for."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest

from aiki_cli import Client, MemoryStore, Run, Worker, task, workflow
from aiki_cli.store import Claim
from aiki_cli.store.base import Taken
from aiki_cli.store.memory import MemoryClaim


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.claims: Counter[str] = Counter()
        self.order: list[str] = []
        self.listings = 0
        self.batches: list[list[str]] = []  # the runs of each `claim_many`
        self.released: list[int] = []  # how many claims each `release_many` let go

    def ready_runs(self) -> list[str]:
        self.listings += 1
        return super().ready_runs()

    def claim_many(self, run_ids: Sequence[str], *, queued_only: bool = False) -> list[Taken]:
        self.batches.append(list(run_ids))
        return super().claim_many(run_ids, queued_only=queued_only)

    def release_many(self, claims: Sequence[Claim]) -> None:
        self.released.append(len(claims))
        super().release_many(claims)

    def claim(self, run_id: str, *, queued_only: bool = False) -> MemoryClaim | None:
        """Counts the claims taken; `order` has every try."""
        self.order.append(run_id)
        claim = super().claim(run_id, queued_only=queued_only)
        if claim is not None:
            self.claims[run_id] += 1
        return claim


def kit() -> tuple[CountingStore, Client, Any, Any]:
    """A counting memory store, its client, and a one-task workflow with its version."""
    store = CountingStore()
    return (store, Client(store), *one_task_flow())


def one_task_flow() -> tuple[Any, Any]:
    @task(name="noop")
    async def noop(value: int) -> int:
        return value

    flow = workflow(name="queue-probe")

    @flow.v("1.0.0")
    async def probe(input: int, run: Run) -> int:
        return await noop.start(run, input)

    return flow, probe


def test_runs_done_by_another_worker_since_the_listing_are_not_claimed() -> None:
    store, client, flow, probe = kit()

    async def scenario() -> None:
        ids = [(await probe.start(client, i)).id for i in range(6)]
        late = Worker(client, [flow], concurrency=1, poll_interval=60)
        late._listing.relist()  # it lists the queue, then another worker empties it
        await Worker(client, [flow]).run(until_idle=True)
        store.claims.clear()
        await late.run(until_idle=True)
        assert store.claims == Counter()  # all six skipped on sight, none claimed
        assert [(await client.get(run_id)).status for run_id in ids] == ["completed"] * 6

    asyncio.run(scenario())


def test_a_run_queued_after_the_listing_is_executed_in_the_same_serve() -> None:
    store, client, flow, probe = kit()

    async def scenario() -> None:
        first = await probe.start(client, 1)
        worker = Worker(client, [flow], concurrency=1, poll_interval=0.05)
        serving = asyncio.ensure_future(worker.run())
        try:
            await client.wait(first.id, timeout=2)
            second = await probe.start(client, 2)  # after the worker listed and emptied its view
            done = await client.wait(second.id, timeout=2)
        finally:
            worker.stop()
            await serving
        assert done.status == "completed"
        assert store.claims[second.id] == 1

    asyncio.run(scenario())


def test_one_listing_serves_several_passes() -> None:
    store, client, flow, probe = kit()

    async def scenario() -> None:
        for i in range(40):
            await probe.start(client, i)
        await Worker(client, [flow], concurrency=2, poll_interval=60).run(until_idle=True)

    asyncio.run(scenario())
    assert sum(store.claims.values()) == 40
    assert store.listings <= 3  # one for the 40 runs, one that finds the queue empty


async def _started(client: Client, probe: Any, count: int = 8) -> list[str]:
    """Start `count` runs; their ids in queue order."""
    return sorted([(await probe.start(client, i)).id for i in range(count)])


@pytest.fixture
def jump_four(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that meets another in its listing goes on four runs further."""
    monkeypatch.setattr("aiki_cli.worker.listing.random.randrange", lambda n: 4)


def test_a_lone_worker_claims_in_the_queue_s_order() -> None:
    store, client, flow, probe = kit()

    async def scenario() -> list[str]:
        ids = await _started(client, probe)
        await Worker(client, [flow], concurrency=8).run(until_idle=True)
        return ids

    ids = asyncio.run(scenario())
    assert store.order == ids


@pytest.mark.usefixtures("jump_four")
def test_a_run_held_by_another_worker_sends_the_worker_elsewhere_in_its_listing() -> None:
    store, client, flow, probe = kit()

    async def scenario() -> list[str]:
        ids = await _started(client, probe)
        held = store.claim(ids[0])  # another worker is executing the first run
        assert held is not None
        store.order.clear()
        await Worker(client, [flow], concurrency=1).run(until_idle=True)  # a run at a time
        held.release()
        return ids

    ids = asyncio.run(scenario())
    # After failing on the first run it goes on four runs further; the four it skipped
    # come after the rest of the listing. Later listings find only the held run.
    assert store.order[:8] == [ids[0], *ids[5:], *ids[1:5]]
    assert set(store.order[8:]) <= {ids[0]}


@pytest.mark.usefixtures("jump_four")
def test_once_another_worker_is_met_runs_it_executed_since_the_listing_are_not_claimed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, client, flow, probe = kit()

    async def scenario() -> list[str]:
        ids = await _started(client, probe)
        listing = store.ready_runs()
        monkeypatch.setattr(store, "ready_runs", lambda: listing)  # listed before...
        held = store.claim(ids[0])  # ...another worker took the first run
        done = store.claim(ids[5])  # and executed the sixth
        assert held is not None and done is not None
        done.leave_queue()
        done.release()
        store.order.clear()
        store.claims.clear()
        Worker(client, [flow], concurrency=1)._fill()  # a run at a time
        held.release()
        return ids

    ids = asyncio.run(scenario())
    assert store.order[:2] == [ids[0], *ids[5:6]]  # after the first, four runs further
    assert ids[5] not in store.claims  # tried only if still queued: not claimed
    assert len(store.claims) == 1  # the next one tried, claimed: no room for more


def _twelve_served(concurrency: int) -> tuple[CountingStore, list[str]]:
    """Twelve runs started, then served by one worker until idle; their ids in order."""
    store, client, flow, probe = kit()

    async def scenario() -> list[str]:
        ids = await _started(client, probe, count=12)
        await Worker(client, [flow], concurrency=concurrency).run(until_idle=True)
        return ids

    return store, asyncio.run(scenario())


def test_a_worker_claims_as_many_runs_at_once_as_it_has_room_for() -> None:
    store, ids = _twelve_served(concurrency=5)
    batches = store.batches
    assert batches[0] == ids[:5]  # the first pass: five at once, in the queue's order
    assert all(len(batch) <= 5 for batch in batches)
    assert sorted(run_id for batch in batches for run_id in batch) == ids  # each tried once
    assert sum(store.claims.values()) == 12


def test_runs_ending_together_are_released_together_and_none_stays_held() -> None:
    store, ids = _twelve_served(concurrency=6)
    assert sum(store.released) == 12 and max(store.released) > 1, store.released
    for run_id in ids:  # released, every one: another worker could claim it now
        claim = store.claim(run_id)
        assert claim is not None
        claim.release()


def test_a_run_whose_release_waits_is_released_before_the_worker_claims_again() -> None:
    """A run let go (parked, say) and queued again before the loop's next turn: the
    worker's next pass releases it first, else its own claim would refuse the run and the
    worker, idle, would leave it queued (a parent woken by its last child's end)."""
    store, client, flow, probe = kit()

    async def scenario() -> None:
        run_id = (await probe.start(client, 1)).id
        worker = Worker(client, [flow], concurrency=1)
        held = store.claim(run_id)
        assert held is not None
        worker._releasing.append(held)  # let go, its release waiting for the next turn
        with worker._threads():
            assert worker._fill() == 1
            await asyncio.gather(*worker._active.values())
        worker._release_now()
        assert (await client.get(run_id)).status == "completed"

    asyncio.run(scenario())
