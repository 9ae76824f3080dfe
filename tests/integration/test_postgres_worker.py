"""A worker on a PostgreSQL store: it hears of new runs through NOTIFY instead of polling,
and it rides out a database it cannot reach, saying so once per outage."""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from aiki_cli import Client, Run, Worker, task, workflow
from aiki_cli.model.status import RunStatus
from aiki_cli.store.postgres.connect import target

pytestmark = pytest.mark.slow


@task(name="pg-greet")
def greet(input: dict[str, Any]) -> str:
    return f"hello {input['name']}"


hello = workflow(name="pg-hello")


@hello.v("1.0.0")
async def hello_v1(input: dict[str, Any], run: Run) -> str:
    return str(await greet.start(run, input))


def sql(url: str, query: str) -> list[tuple[Any, ...]]:
    with target(url).connect() as conn:
        cursor = conn.execute(query)
        return cursor.fetchall() if cursor.description else []


async def until(found: Any, *, limit: float = 30.0) -> Any:
    deadline = time.monotonic() + limit
    while not (value := found()):
        assert time.monotonic() < deadline, "never happened"
        await asyncio.sleep(0.02)
    return value


def test_an_idle_worker_hears_of_a_new_run_without_polling(postgres_url: str) -> None:
    """The worker polls once a minute here: the run completes long before because the
    store's NOTIFY wakes it."""
    name = f"aiki_t_{secrets.token_hex(4)}"
    url = f"{postgres_url}&application_name={name}"
    listening = (
        f"SELECT 1 FROM pg_stat_activity WHERE application_name = '{name}' AND query LIKE 'LISTEN%'"
    )

    async def scenario() -> str:
        client = Client(url)
        worker = Worker(client, [hello_v1], poll_interval=60.0)
        serving = asyncio.create_task(worker.run())
        try:
            await until(lambda: sql(url, listening))
            await asyncio.sleep(0.5)  # its passes on starting to listen are over
            handle = await hello_v1.start(client, {"name": "ann"})
            result = await handle.wait_for_completion(timeout=30)
            return str(result)
        finally:
            worker.stop()
            await serving
            client.close()

    assert asyncio.run(scenario()) == "hello ann"


release = threading.Event()


@task(name="pg-hold")
def hold(input: dict[str, Any]) -> str:
    release.wait(60)
    return "held"


busy = workflow(name="pg-busy")


@busy.v("1.0.0")
async def busy_v1(input: dict[str, Any], run: Run) -> str:
    return str(await hold.start(run, input))


def test_a_run_queued_while_the_worker_is_busy_is_claimed_on_the_notification(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker polls once a minute and its listener never ticks: the second run, queued
    while the first holds the worker, completes only because its NOTIFY is handed over
    when it arrives (it once waited for the end of the listener's 0.5 s poll)."""
    from aiki_cli.store.postgres import notify

    monkeypatch.setattr(notify, "_CHECK_STOP", 3600.0, raising=False)
    release.clear()

    async def scenario() -> tuple[str, RunStatus]:
        client = Client(postgres_url)
        worker = Worker(client, [hello_v1, busy_v1], poll_interval=60.0)
        serving = asyncio.create_task(worker.run())
        try:
            first = await busy_v1.start(client, {})
            await until(lambda: worker.executing == [first.id])
            second = await hello_v1.start(client, {"name": "bob"})
            result = await second.wait_for_completion(timeout=30)
            status = (await first.get_status()).status  # still held by its task
            release.set()
            await first.wait_for_completion(timeout=30)
            return str(result), status
        finally:
            release.set()
            worker.stop()
            await serving
            client.close()

    assert asyncio.run(scenario()) == ("hello bob", RunStatus.RUNNING)


@pytest.fixture
def own_role(postgres_url: str) -> Iterator[str]:
    """The URL as a role of this test's own (not a superuser), which can be refused."""
    role = f"aiki_t_{secrets.token_hex(4)}"
    schema = target(postgres_url).schema
    sql(postgres_url, f"CREATE ROLE {role} LOGIN")
    sql(postgres_url, f"GRANT USAGE ON SCHEMA {schema} TO {role}")
    sql(postgres_url, f"GRANT ALL ON ALL TABLES IN SCHEMA {schema} TO {role}")
    try:
        yield postgres_url.replace("postgres@", f"{role}@", 1) + f"&application_name={role}"
    finally:
        sql(postgres_url, f"ALTER ROLE {role} LOGIN")
        sql(
            postgres_url,
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'",
        )
        sql(postgres_url, f"DROP OWNED BY {role}")
        sql(postgres_url, f"DROP ROLE {role}")


def test_a_worker_rides_out_a_lost_database_and_says_so_once(
    own_role: str, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    role = own_role.split("//", 1)[1].split("@", 1)[0]
    cut = f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"

    async def scenario() -> tuple[str, RunStatus]:
        client = Client(own_role)
        worker = Worker(client, [hello_v1], poll_interval=0.05)
        serving = asyncio.create_task(worker.run())
        try:
            first = await hello_v1.start(client, {"name": "before"})
            await first.wait_for_completion(timeout=30)
            sql(postgres_url, f"ALTER ROLE {role} NOLOGIN")  # the outage begins
            sql(postgres_url, cut)
            await until(lambda: _said(caplog, "lost the store"))
            await asyncio.sleep(3)  # several attempts fail meanwhile (backoff 0.5, 1, 2 s)
            sql(postgres_url, f"ALTER ROLE {role} LOGIN")  # and ends
            await until(lambda: _said(caplog, "the store is back"))
            after = await hello_v1.start(client, {"name": "after"})
            result = await after.wait_for_completion(timeout=30)
            return str(result), (await after.get_status()).status
        finally:
            worker.stop()
            await serving
            client.close()

    with caplog.at_level(logging.INFO, logger="aiki.worker"):
        assert asyncio.run(scenario()) == ("hello after", RunStatus.COMPLETED)
    assert _said(caplog, "lost the store") == 1
    back = [r.getMessage() for r in caplog.records if "the store is back" in r.getMessage()]
    assert len(back) == 1
    assert "after 1 failed" not in back[0]  # the outage lasted several attempts, said once


def _said(caplog: pytest.LogCaptureFixture, words: str) -> int:
    return sum(words in record.getMessage() for record in caplog.records)
