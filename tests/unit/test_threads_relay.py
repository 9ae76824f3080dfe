"""The relay (issue 19 item 2): the plain-function bodies of a run alone in its worker go
to one long-lived thread, handed over with a lock instead of an executor's future; a body
still running there sends the next ones to the executor, and closing the relay ends its
thread, at once or once its body returns."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest

from aiki_cli import Client, MemoryStore, Run, Worker, task, workflow
from aiki_cli.authoring.guard import Raised
from aiki_cli.authoring.threads import Pool, Relay, Threads

LIMIT = 30.0  # no wait here lasts this long unless something is broken


@pytest.fixture
def pool() -> Iterator[Pool]:
    threads = Pool(2)
    try:
        yield threads
    finally:
        threads.close()
        _join_relays()


def _join_relays() -> None:
    for thread in threading.enumerate():
        if thread.name == "aiki-relay":
            thread.join(LIMIT)
            assert not thread.is_alive(), "the relay's thread did not end"


def _where(value: Any) -> int:
    return threading.get_ident()


async def _calls(threads: Threads, n: int) -> list[int]:
    return [await threads.call("where", _where, i) for i in range(n)]


def test_bodies_of_a_run_alone_run_in_one_long_lived_thread(pool: Pool) -> None:
    idents = asyncio.run(_calls(pool.threads(alone=lambda: True), 20))
    assert len(set(idents)) == 1
    assert idents[0] != threading.get_ident()  # still in a thread of its own
    relays = [t for t in threading.enumerate() if t.name == "aiki-relay"]
    assert [t.ident for t in relays] == idents[:1]


def test_bodies_of_a_run_beside_others_go_to_the_executor(pool: Pool) -> None:
    idents = asyncio.run(_calls(pool.threads(alone=lambda: False), 5))
    names = {t.ident: t.name for t in threading.enumerate()}
    assert all(names[ident].startswith("aiki-task") for ident in idents)


def test_what_a_relayed_body_raises_comes_out_as_from_the_executor(pool: Pool) -> None:
    threads = pool.threads(alone=lambda: True)

    def fails(value: Any) -> None:
        raise KeyError(value)

    def exits(value: Any) -> None:
        raise SystemExit(3)

    async def call(fn: Any) -> Any:
        return await threads.call("t", fn, "k")

    with pytest.raises(KeyError):
        asyncio.run(call(fails))
    with pytest.raises(Raised):
        asyncio.run(call(exits))
    assert threads.running() == []


def test_a_body_still_in_the_relay_sends_the_next_to_the_executor(pool: Pool) -> None:
    threads = pool.threads(alone=lambda: True)
    release = threading.Event()

    def slow(value: Any) -> int:
        assert release.wait(LIMIT)
        return threading.get_ident()

    async def both() -> tuple[int, int]:
        first = asyncio.ensure_future(_awaited(threads.call("slow", slow, None)))
        await asyncio.sleep(0)
        assert threads.running() == ["slow"]  # past its patience, still counted
        second = await threads.call("where", _where, None)  # not held up by the first
        release.set()
        return await first, second

    relayed, beside = asyncio.run(both())
    names = {t.ident: t.name for t in threading.enumerate()}
    assert names[relayed] == "aiki-relay"
    assert names[beside].startswith("aiki-task")
    assert threads.running() == []


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def test_closing_the_relay_ends_its_thread_after_the_body_it_runs() -> None:
    relay = Relay()
    release = threading.Event()
    future: Future[Any] = Future()
    done = threading.Lock()
    done.acquire()
    assert relay.take((lambda _: release.wait(LIMIT), None, future, done))
    (thread,) = [t for t in threading.enumerate() if t.name == "aiki-relay"]
    relay.close()
    assert thread.is_alive()  # the body still runs: the thread waits for it
    assert not relay.take((_where, None, Future(), threading.Lock()))
    release.set()
    thread.join(LIMIT)
    assert not thread.is_alive() and future.result() is True and done.locked() is False


def test_closing_an_idle_relay_ends_its_thread_at_once() -> None:
    relay = Relay()
    future: Future[Any] = Future()
    done = threading.Lock()
    done.acquire()
    assert relay.take((_where, None, future, done))
    assert done.acquire(timeout=LIMIT)
    (thread,) = [t for t in threading.enumerate() if t.name == "aiki-relay"]
    relay.close()
    thread.join(LIMIT)
    assert not thread.is_alive()
    assert future.result() == thread.ident


def test_a_worker_runs_a_lone_run_s_bodies_in_its_relay_and_ends_it() -> None:
    seen: list[str] = []
    body = task(name="where-am-i", exec=lambda _: seen.append(threading.current_thread().name))
    flow = workflow(name="relayed")

    @flow.v("1.0.0")
    async def v1(input: Any, run: Run) -> int:
        for i in range(5):
            await body.start(run, i)
        return 5

    client = Client(MemoryStore())
    run_id = client.create(v1, None).id
    asyncio.run(Worker(client, [v1]).run(until_idle=True))
    assert seen == ["aiki-relay"] * 5
    assert asyncio.run(client.get(run_id)).result == 5
    _join_relays()  # the worker closed its relay: the thread ends
