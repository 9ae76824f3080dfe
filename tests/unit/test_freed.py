"""A finished run leaves nothing behind for the garbage collector: its objects hold no
reference cycle, so they are freed the moment the run is done, not at the collector's
next pass (which would walk all of a busy worker's runs in flight to find them). Its
logger, which used to hold the run itself, still keeps quiet while the run replays."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

from aiki_cli import Client, Run, Worker, task, workflow
from aiki_cli.store import Store


@task(name="echo")
async def echo(value: int) -> int:
    return value


flow = workflow(name="freed-probe")


@flow.v("1.0.0")
async def probe(input: int, run: Run) -> int:
    run.logger.info("logged")  # the logger is made with the run
    return await echo.start(run, input) + await echo.start(run, 1)


def is_claim(thing: object) -> bool:
    """A claim of any store (`FileClaim`, say)."""
    kind = type(thing)
    module = kind.__module__  # not a str for some compiled types
    return (
        isinstance(module, str)
        and module.startswith("aiki_cli.store.")
        and (kind.__name__.endswith("Claim"))
    )


def test_finished_runs_are_freed_without_the_garbage_collector(store: Store) -> None:
    client = Client(store)

    async def scenario() -> list[str]:
        ids = [(await probe.start(client, i)).id for i in range(5)]
        await Worker(client, [flow], concurrency=5).run(until_idle=True)
        return ids

    gc.collect()
    gc.disable()
    try:
        ids = asyncio.run(scenario())
        left = [o for o in gc.get_objects() if isinstance(o, Run) or is_claim(o)]
    finally:
        gc.enable()
    assert [asyncio.run(client.get(run_id)).status for run_id in ids] == ["completed"] * 5
    assert left == []


napper = workflow(name="freed-napper")


@napper.v("1.0.0")
async def nap(input: int, run: Run) -> int:
    first = await echo.start(run, input)
    run.logger.info("between the tasks")
    second = await echo.start(run, 1)
    await run.sleep("nap", "1h")
    return first + second


def test_the_run_logger_is_quiet_while_the_run_replays(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client(store)

    async def scenario() -> str:
        run_id = (await nap.start(client, 2)).id
        await Worker(client, [napper]).run(until_idle=True)  # parks in its sleep
        await client.wake(run_id)
        await Worker(client, [napper]).run(until_idle=True)  # replays both tasks, ends
        return (await client.get(run_id)).status

    with caplog.at_level(logging.INFO, logger="aiki.run"):
        assert asyncio.run(scenario()) == "completed"
    logged = [r.getMessage() for r in caplog.records if r.name == "aiki.run"]
    assert len(logged) == 1 and logged[0].endswith("] between the tasks")  # not on replay
