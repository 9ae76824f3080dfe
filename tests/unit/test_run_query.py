"""Which runs a listing wants (`model.query.RunQuery`), and `Client.query` paging
through them past a run id, newest first."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from aiki_cli import Run, workflow
from aiki_cli.client import Client
from aiki_cli.model.query import RunQuery
from aiki_cli.model.runinfo import DamagedRun, RunInfo
from aiki_cli.model.status import RunStatus
from aiki_cli.store.memory import MemoryStore

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def info(**fields: object) -> RunInfo:
    base: dict[str, object] = {
        "id": "01abc",
        "workflow": "orders",
        "version": "1.0.0",
        "status": RunStatus.PENDING,
        "created_at": T0,
        "updated_at": T0,
    }
    return RunInfo.model_validate({**base, **fields})


def test_an_empty_query_admits_everything() -> None:
    assert RunQuery().admits(info()) and RunQuery().admits_ref("any", "1.0.0")


def test_by_workflow_and_version_before_reading() -> None:
    assert RunQuery(workflow="orders").admits_ref("orders", "2.0.0")
    assert not RunQuery(workflow="orders").admits_ref("billing", "1.0.0")
    assert not RunQuery(workflow="orders", version="2.0.0").admits_ref("orders", "1.0.0")


def test_by_status_time_and_text() -> None:
    run = info(id="01xyz", idempotency_key="Order-17", created_at=T0)
    assert RunQuery(status=RunStatus.PENDING).admits(run)
    assert not RunQuery(status=RunStatus.FAILED).admits(run)
    assert RunQuery(created_from=T0, created_to=T0).admits(run)
    assert not RunQuery(created_from=T0 + timedelta(seconds=1)).admits(run)
    assert not RunQuery(created_to=T0 - timedelta(seconds=1)).admits(run)
    assert RunQuery(text="order-1").admits(run) and RunQuery(text="XY").admits(run)
    assert not RunQuery(text="nope").admits(run)


def test_a_damaged_run_matches_no_status_or_time() -> None:
    damaged = DamagedRun(id="01bad", workflow="orders", version="1.0.0", error={})
    assert RunQuery().admits(damaged) and RunQuery(text="bad").admits(damaged)
    assert not RunQuery(status=RunStatus.PENDING).admits(damaged)
    assert not RunQuery(created_from=T0).admits(damaged)


paging = workflow(name="paging")


@paging.v("1.0.0")
async def paging_v1(input: object, run: Run) -> None:
    return None


@paging.v("2.0.0")
async def paging_v2(input: object, run: Run) -> None:
    return None


def started(client: Client, count: int, version: object = paging_v1) -> list[str]:
    return [client.create(version, {"n": n}).id for n in range(count)]  # type: ignore[arg-type]


def test_client_query_pages_past_a_run_newest_first() -> None:
    client = Client(MemoryStore())
    ids = started(client, 5)[::-1]

    first = asyncio.run(client.query(RunQuery(), limit=2))
    second = asyncio.run(client.query(RunQuery(), after=first[-1].id, limit=2))
    rest = asyncio.run(client.query(RunQuery(), after=second[-1].id))

    assert [r.id for r in first + second + rest] == ids
    assert asyncio.run(client.query(RunQuery(), after="01nosuchrunxxxxxxxxxxxxxxx")) == []


def test_client_query_filters_and_counts() -> None:
    client = Client(MemoryStore())
    old = started(client, 2)
    new = started(client, 1, paging_v2)
    asyncio.run(client.cancel(old[0]))

    by_version = asyncio.run(client.query(RunQuery(workflow="paging", version="2.0.0")))
    cancelled = asyncio.run(client.query(RunQuery(status=RunStatus.CANCELLED)))

    assert [r.id for r in by_version] == new and [r.id for r in cancelled] == [old[0]]
    assert asyncio.run(client.count_statuses(newest=10)) == {"pending": 2, "cancelled": 1}
    assert asyncio.run(client.count_statuses(newest=1)) == {"pending": 1}
    assert asyncio.run(client.in_flight()) == {"paging@1.0.0": 1, "paging@2.0.0": 1}


def test_client_pending_has_unread_mail_and_requests() -> None:
    client = Client(MemoryStore())
    [run_id] = started(client, 1)
    asyncio.run(client.send(run_id, "go", {"ok": True}))
    client.store.request(run_id, "pause")

    mail, requests = asyncio.run(client.pending(run_id))

    assert [(m.name, m.data) for m in mail] == [("go", {"ok": True})]
    assert requests == {"pause"}
