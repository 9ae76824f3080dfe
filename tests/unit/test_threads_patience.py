"""`Threads.call` (issue 19 item 2): a plain-function body of a run alone in its worker is
waited for briefly by the loop itself, and one done by then comes back with no hand-back
through the event loop; anything else is awaited as a future, as before."""

from __future__ import annotations

import asyncio
import inspect
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from aiki_cli.authoring.guard import Raised
from aiki_cli.authoring.threads import Threads


@pytest.fixture
def pool() -> Any:
    executor = ThreadPoolExecutor(2)
    yield executor
    executor.shutdown(wait=True)


def test_a_short_body_of_a_run_alone_returns_without_a_future(pool: ThreadPoolExecutor) -> None:
    threads = Threads(pool, alone=lambda: True)
    ran_in: list[str] = []

    def body(value: int) -> int:
        ran_in.append(threading.current_thread().name)
        return value * 2

    async def call() -> tuple[bool, int]:
        awaitable = threads.call("double", body, 21)
        return inspect.iscoroutine(awaitable), await awaitable

    assert asyncio.run(call()) == (True, 42)
    assert ran_in and ran_in[0] != threading.current_thread().name  # still in a thread
    assert threads.running() == []


def test_what_a_body_raises_comes_out_the_same_either_way(pool: ThreadPoolExecutor) -> None:
    def fails(value: Any) -> None:
        raise KeyError(value)

    def exits(value: Any) -> None:
        raise SystemExit(3)

    for alone in (True, False):
        threads = Threads(pool, alone=lambda alone=alone: alone)
        with pytest.raises(KeyError):
            asyncio.run(_call(threads, fails, "k"))
        with pytest.raises(Raised):
            asyncio.run(_call(threads, exits, None))


def test_beside_other_runs_or_past_its_patience_a_body_is_awaited_as_a_future(
    pool: ThreadPoolExecutor,
) -> None:
    release = threading.Event()

    def slow(value: int) -> int:
        release.wait(10)
        return value

    async def call(threads: Threads, fn: Any) -> tuple[bool, int]:
        awaitable = threads.call("t", fn, 7)
        release.set()
        return isinstance(awaitable, asyncio.Future), await awaitable

    assert asyncio.run(call(Threads(pool, alone=lambda: False), lambda v: v)) == (True, 7)
    release.clear()
    assert asyncio.run(call(Threads(pool, alone=lambda: True), slow)) == (True, 7)


async def _call(threads: Threads, fn: Any, value: Any) -> Any:
    return await threads.call("t", fn, value)
