"""Concurrency inside a run: tasks in parallel (workflows/stock_check.py) and a fan-out
to child runs gathered in input order (workflows/thumbnails.py)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from stock_check import count_stock, stock_check, stock_check_v1
from thumbnails import render_thumbnail, thumbnail, thumbnail_batch, thumbnail_batch_v1

from aiki_cli import RunStatus
from aiki_cli.store import Store
from aiki_cli.testing import START, Harness

from .support import count_calls, journal


def test_three_tasks_run_in_parallel(monkeypatch: pytest.MonkeyPatch, store: Store) -> None:
    calls = count_calls(monkeypatch, count_stock)

    async def scenario() -> None:
        harness = Harness([stock_check], store=store)
        handle = await harness.start(stock_check_v1, {"sku": "A-1"})
        await harness.run_until_idle()

        assert await handle.wait_for_completion() == {"a": 1, "b": 2, "c": 3}
        assert calls == {"count-stock": 3}
        steps = [entry.type for entry in await journal(handle, "task_started", "task_completed")]
        assert steps == ["task_started"] * 3 + ["task_completed"] * 3, "all three at once"
        info = await handle.get_status()
        assert [(task.name, task.status) for task in info.tasks] == [
            ("count-stock", "completed")
        ] * 3

    asyncio.run(scenario())


IMAGES = [
    {"name": "poster.jpg", "size_kb": 2400},  # large: waits a minute for the renderer
    {"name": "cat.png", "size_kb": 30},
    {"name": "dog.webp", "size_kb": 20},
]


def test_a_fan_out_to_child_runs_gathers_their_results_in_input_order(store: Store) -> None:
    async def scenario() -> None:
        harness = Harness([thumbnail_batch, thumbnail], store=store)
        handle = await harness.start(thumbnail_batch_v1, {"images": IMAGES})
        await harness.advance("1s")

        info = await handle.get_status()
        assert info.status == RunStatus.AWAITING_CHILD
        children = [await harness.client.get(child) for child in info.children]
        assert [child.input["name"] for child in children] == ["poster.jpg", "cat.png", "dog.webp"]
        assert [child.status for child in children] == [
            RunStatus.SLEEPING,
            RunStatus.COMPLETED,
            RunStatus.COMPLETED,
        ], "the small images are done before the large one"

        await harness.run_until_idle()

        result = await handle.wait_for_completion()
        assert [thumb["image"] for thumb in result["thumbnails"]] == [
            "poster.jpg",
            "cat.png",
            "dog.webp",
        ]
        assert result["failed"] == 0
        poster = await harness.client.get(info.children[0])
        assert poster.status == RunStatus.COMPLETED
        assert poster.updated_at == START + timedelta(minutes=1)
        assert all(child.parent_id == handle.id for child in children)

    asyncio.run(scenario())


def test_a_parent_catches_the_failure_of_a_child_and_carries_on(
    monkeypatch: pytest.MonkeyPatch,
    store: Store,
) -> None:
    calls = count_calls(monkeypatch, render_thumbnail)

    async def scenario() -> None:
        harness = Harness([thumbnail_batch, thumbnail], store=store)
        images = [IMAGES[1], {"name": "bird.gif", "size_kb": 10}, IMAGES[2]]
        handle = await harness.start(thumbnail_batch_v1, {"images": images})
        await harness.run_until_idle()

        result = await handle.wait_for_completion()
        assert result["failed"] == 1
        cat, bird, dog = result["thumbnails"]
        assert cat["image"] == "cat.png" and dog["image"] == "dog.webp"
        assert bird["image"] == "bird.gif"
        assert "cannot render .gif images" in bird["error"]

        info = await handle.get_status()
        statuses = [(await harness.client.get(child)).status for child in info.children]
        assert statuses == [RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.COMPLETED]
        assert calls == {"render-thumbnail": 3}, "the parent's replays re-ran no child's task"

    asyncio.run(scenario())
