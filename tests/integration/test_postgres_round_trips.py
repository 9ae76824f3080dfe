"""How many times the claims' connections (the claim session, the flush connections)
wait for the server (a round trip: a statement, or a pipeline of them) per step, and
how many connections a busy worker opens: the costs that bound a PostgreSQL worker's
speed, counted rather than timed."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from aiki_cli import Client, Run, Worker, task, workflow
from aiki_cli.store.postgres.flushes import KEPT as FLUSHERS
from aiki_cli.store.postgres.session import Connections

pytestmark = pytest.mark.slow


@task(name="pg-count-noop")
def noop(input: int) -> int:
    return input


steps = workflow(name="pg-count-steps")


@steps.v("1.0.0")
async def steps_v1(input: int, run: Run) -> int:
    for n in range(input):
        await noop.start(run, n)
    return input


class Trips:
    """Counts the waits for the server of the connections made for claims and flushes
    (`Connections.new_async`), and every connection made."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # The connections counted, kept alive: a closed one's id could otherwise be taken
        # by a connection made later for something else (the worker's registration, say).
        self.taken: dict[int, Any] = {}
        self.waits: Counter[int] = Counter()
        self.connects = 0
        new_async, wait, new = Connections.new_async, psycopg.Connection.wait, Connections._new

        def counted_new_async(connections: Connections) -> Any:
            conn = new_async(connections)
            self.taken[id(conn)] = conn
            return conn

        def counted_wait(conn: Any, *args: Any, **kw: Any) -> Any:
            if id(conn) in self.taken:
                self.waits[id(conn)] += 1
            return wait(conn, *args, **kw)

        def counted_new(connections: Connections, **kw: Any) -> Any:
            self.connects += 1
            return new(connections, **kw)

        monkeypatch.setattr(Connections, "new_async", counted_new_async)
        monkeypatch.setattr(psycopg.Connection, "wait", counted_wait)
        monkeypatch.setattr(Connections, "_new", counted_new)

    def total(self) -> int:
        return sum(self.waits.values())


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[Trips]:
    yield Trips(monkeypatch)


def _serve(url: str, inputs: list[int], concurrency: int) -> None:
    async def scenario() -> None:
        client = Client(url)
        try:
            for n in inputs:
                await steps_v1.start(client, n)
            worker = Worker(client, [steps_v1], concurrency=concurrency)
            await worker.run(until_idle=True)
            assert worker.tally() == f"ran {len(inputs)} run{'s' * (len(inputs) > 1)}: " + (
                f"{len(inputs)} completed"
            )
        finally:
            client.close()

    asyncio.run(scenario())


def test_a_step_of_a_lone_run_costs_at_most_two_round_trips_on_its_claims_connections(
    postgres_url: str, trips: Trips
) -> None:
    """Two appends: the task's start, with the look for requests at the task's boundary
    and (the run executing alone) the flush before the task's body, in its synchronous
    commit; the task's completion. Once 3 (the flush on its own), 4 (the look too), and
    15 before that (a BEGIN and a COMMIT around each append, four statements to flush).
    A run of one step: 9, once 10 (out of the queue on its own, before the release), 11
    (the look for a cancel at its end on its own) and 16 (the claim's read, its first
    look at mail and at requests, in three round trips; the look at the boundary on its
    own)."""
    _serve(postgres_url, [1], concurrency=1)
    one, first = trips.total(), sorted(trips.waits.values())
    trips.waits.clear()
    _serve(postgres_url, [41], concurrency=1)
    per_step = (trips.total() - one) / 40
    seen = f"run of 1 step {one} {first}, per step {per_step} {sorted(trips.waits.values())}"
    print(f"round trips (per connection): {seen}")
    assert per_step <= 2, seen
    assert one <= 9, seen  # a run: claim, running, start, its step, end, flush, release


def test_a_busy_worker_opens_a_few_connections_however_many_runs_it_holds(
    postgres_url: str, trips: Trips
) -> None:
    """Its claims share one session and its flushes a few connections (the group
    commit's threads), however many runs it holds: the server starts no backend per run.
    Once a connection per run held (82 for these 400 runs; 146 before that)."""
    _serve(postgres_url, [1] * 400, concurrency=40)
    print(f"connections: {trips.connects} for 400 runs")
    assert trips.connects <= 2 + 1 + FLUSHERS  # shared and registration, session, flushes
