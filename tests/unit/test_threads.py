"""A run whose plain-function task still runs in a thread stays claimed (issue 16.1).

Python cannot stop a thread: a worker stopped at once hands the run back to the queue
(journaled `pending`), but keeps its claim until the body returns, so that no other
worker executes the task beside it; then the run is free, and runs the task again.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiki_cli import Client, MemoryStore, Run, RunStatus, Worker, task, workflow
from aiki_cli.authoring.threads import Threads
from aiki_cli.store import Store

LIMIT = 30.0  # no wait of these tests lasts this long unless something is broken


def wait_for_claim(store: Store, run_id: str) -> None:
    """Until the run can be claimed (and release it again); fail past LIMIT."""
    deadline = time.monotonic() + LIMIT
    while (claim := store.claim(run_id)) is None:
        assert time.monotonic() < deadline, f"run {run_id} is still claimed"
        time.sleep(0.01)
    claim.release()


def test_a_worker_stopped_at_once_keeps_the_run_claimed_while_its_thread_runs() -> None:
    started, finish = threading.Event(), threading.Event()
    calls: list[str] = []

    def blocks(value: Any) -> str:
        calls.append(threading.current_thread().name)
        started.set()
        finish.wait(LIMIT)
        return "done"

    body = task(name="blocks", exec=blocks)
    flow = workflow(name="held")

    @flow.v("1.0.0")
    async def v1(input: Any, run: Run) -> Any:
        return await body.start(run, None)

    client = Client(MemoryStore())
    run_id = client.create(v1, None).id

    async def stop_mid_task() -> Worker:
        worker = Worker(client, [v1], poll_interval=0.01)
        serving = asyncio.ensure_future(worker.run())
        assert await asyncio.to_thread(started.wait, LIMIT)
        worker.stop(now=True)
        await serving
        return worker

    try:
        worker = asyncio.run(stop_mid_task())
        assert worker.abandoned
        assert asyncio.run(client.get(run_id)).status == RunStatus.PENDING
        assert client.store.is_ready(run_id), "handed back to the queue"
        assert client.store.claim(run_id) is None, "claimed while the body runs in its thread"
    finally:
        finish.set()
    wait_for_claim(client.store, run_id)  # the body returned: the claim is let go

    asyncio.run(Worker(client, [v1], poll_interval=0.01).run(until_idle=True))
    assert asyncio.run(client.get(run_id)).result == "done"
    assert len(calls) == 2, "the stopped body, then its run's next execution"


def test_threads_say_when_the_last_counted_body_has_returned() -> None:
    gates = [threading.Event(), threading.Event(), threading.Event()]
    idle = threading.Event()
    with ThreadPoolExecutor(3) as pool:
        threads = Threads(pool)
        assert not threads.when_idle(idle.set), "nothing runs: nothing to wait for"
        futures = [threads.submit(f"t{i}", gate.wait, LIMIT) for i, gate in enumerate(gates)]
        assert threads.running() == ["t0", "t1", "t2"]
        threads.abandon(futures[2])  # timed out: the run no longer waits for it
        assert threads.when_idle(idle.set)
        gates[0].set()
        futures[0].result(LIMIT)
        assert threads.running() == ["t1"] and not idle.is_set()
        gates[1].set()
        assert idle.wait(LIMIT)
        assert threads.running() == []
        gates[2].set()


def test_what_a_body_raises_that_is_no_exception_comes_out_of_its_thread_as_one() -> None:
    def exits(value: Any) -> None:
        raise SystemExit(value)

    with ThreadPoolExecutor(1) as pool:
        error = Threads(pool).submit("exits", exits, 3).exception(LIMIT)
    assert isinstance(error, Exception)
    assert isinstance(error.__cause__, SystemExit) and error.__cause__.code == 3
