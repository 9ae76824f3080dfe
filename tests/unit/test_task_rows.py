"""One row per task call in `status`: a call run again — by its own retry policy, by the
workflow's, or by `aiki retry` — keeps its row, and the row counts every attempt."""

from __future__ import annotations

import asyncio
from typing import Any

from aiki_cli import Run, retry, task, workflow
from aiki_cli.testing import Harness

FAILURES = {"left": 0}


@task(name="fragile", retry=retry.fixed(2, delay=0))
def fragile(input: Any) -> str:
    if FAILURES["left"] > 0:
        FAILURES["left"] -= 1
        raise ConnectionError("down")
    return "ok"


@task(name="first")
def first(input: Any) -> int:
    return 1


@workflow(name="rows").v("1.0.0", retry=retry.fixed(3, delay=10))
async def rows_v1(input: Any, run: Run) -> str:
    await first.start(run, None)
    return await fragile.start(run, None)


def rows(failures: int, *, retries_in_place: int = 0) -> list[tuple[str, str, int]]:
    FAILURES["left"] = failures

    async def scenario() -> list[tuple[str, str, int]]:
        harness = Harness([rows_v1])
        handle = await harness.start(rows_v1, None)
        await harness.run_until_idle()
        for _ in range(retries_in_place):
            await harness.client.retry(handle.id)
            await harness.run_until_idle()
        document = (await handle.get_status()).document()
        return [(t["name"], t["status"], t["attempts"]) for t in document["tasks"]]

    return asyncio.run(scenario())


def test_a_task_retried_by_its_policy_is_one_row() -> None:
    assert rows(1) == [("first", "completed", 1), ("fragile", "completed", 2)]


def test_a_task_run_again_by_the_workflows_retry_keeps_its_row() -> None:
    # Two attempts per workflow attempt; the third workflow attempt's second try succeeds.
    assert rows(5) == [("first", "completed", 1), ("fragile", "completed", 6)]


def test_a_task_that_never_succeeds_is_one_failed_row_with_every_attempt() -> None:
    assert rows(100) == [("first", "completed", 1), ("fragile", "failed", 6)]


def test_a_retry_in_place_adds_its_attempts_to_the_same_row() -> None:
    assert rows(100, retries_in_place=2) == [("first", "completed", 1), ("fragile", "failed", 10)]
