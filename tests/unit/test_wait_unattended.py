"""`Client.wait(unattended=…)`: a wait without a deadline gives up once no live worker has
loaded the run's workflow for that long, and only then (issue 15 item 8)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aiki_cli import Client, MemoryStore, Run
from aiki_cli.authoring.workflow import WorkflowVersion
from aiki_cli.errors import NoWorker, WaitTimeout


async def code(input: Any, run: Run) -> Any:
    return input


VERSION = WorkflowVersion("waited", "1.0.0", code)


def pending_run() -> tuple[Client, str]:
    client = Client(MemoryStore())
    return client, client.create(VERSION, {"n": 1}).id


def test_with_no_worker_the_wait_gives_up_naming_the_workflow() -> None:
    client, run_id = pending_run()

    with pytest.raises(NoWorker) as caught:
        asyncio.run(client.wait(run_id, unattended=0.05))

    assert caught.value.exit_code == 5 and isinstance(caught.value, WaitTimeout)
    assert "no worker that loads waited@1.0.0" in caught.value.message
    assert caught.value.message.startswith(f"run {run_id} is still pending")


def test_a_worker_that_does_not_load_the_workflow_does_not_count() -> None:
    client, run_id = pending_run()
    other = {"id": "w1", "workflows": ["other@1.0.0"]}

    with client.store.register_worker("w1", other), pytest.raises(NoWorker):
        asyncio.run(client.wait(run_id, unattended=0.05))


def test_while_a_worker_loads_the_workflow_only_the_timeout_ends_the_wait() -> None:
    client, run_id = pending_run()
    serving = {"id": "w1", "workflows": ["waited@1.0.0"]}

    with client.store.register_worker("w1", serving):
        assert client.serving("waited@1.0.0") and not client.serving("other@1.0.0")
        with pytest.raises(WaitTimeout) as caught:
            asyncio.run(client.wait(run_id, timeout=0.3, unattended=0.05))

    assert type(caught.value) is WaitTimeout  # the deadline, not the missing worker
