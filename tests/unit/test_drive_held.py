"""`start --wait` ends without reading its run back (issue 19 item 2): `Worker.drive`
folds the entries its own claim of the run holds (`Tail.hold`), once they are durable,
and its document is the one `client.get` reads from the store, byte for byte, for runs
that retry tasks, start children, sleep, or fail."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from aiki_cli import Client, MemoryStore, Run, Worker, retry, task
from aiki_cli.authoring.workflow import WorkflowVersion
from aiki_cli.model.entry import Entry, Progress
from aiki_cli.model.runinfo import RunInfo, RunSpec
from aiki_cli.model.status import RunStatus
from aiki_cli.store import Claim, Store
from aiki_cli.store.tail import Tail

FAILURES: dict[str, int] = {}


@task(name="flaky", retry=retry.fixed(3, delay=0.01))
async def flaky(key: str) -> str:
    FAILURES[key] = FAILURES.get(key, 0) + 1
    if FAILURES[key] < 3:
        raise RuntimeError(f"attempt {FAILURES[key]} of {key} failed")
    return key


@task(name="double")
async def double(value: int) -> int:
    return value * 2


@task(name="doomed")
async def doomed(value: int) -> int:
    raise ValueError(f"no {value}")


async def child_code(value: int, run: Run) -> int:
    return await double.start(run, value)


CHILD = WorkflowVersion("held-child", "1.0.0", child_code)


async def parent_code(input: dict[str, Any], run: Run) -> Any:
    await flaky.start(run, input["key"])
    children = [await run.start_child(CHILD, n) for n in range(2)]
    doubled = [await run.await_child(handle.id) for handle in children]
    await run.sleep("nap", 0.01)
    run.progress("halfway", fraction=0.5)
    if input.get("fail"):
        await doomed.start(run, 7)
    return {"doubled": doubled, "ok": await double.start(run, 21)}


PARENT = WorkflowVersion("held-parent", "1.0.0", parent_code)


def document(info: RunInfo) -> str:
    return json.dumps(info.document(), indent=2, ensure_ascii=False)


def drive(client: Client, run_id: str) -> RunInfo:
    return asyncio.run(Worker(client, [PARENT, CHILD], poll_interval=0.01).drive(run_id))


@pytest.mark.parametrize(
    "outcome, status",
    [
        ({}, RunStatus.COMPLETED),
        ({"fail": True}, RunStatus.FAILED),
    ],
    ids=["completed", "failed"],
)
def test_drives_document_is_the_stores(
    store: Store, outcome: dict[str, Any], status: RunStatus, request: pytest.FixtureRequest
) -> None:
    client = Client(store)
    run_id = client.create(PARENT, {"key": request.node.name, **outcome}).id

    info = drive(client, run_id)

    assert info.status == status
    stored = asyncio.run(client.get(run_id))
    assert document(info) == document(stored)
    flaky_call = next(call for call in info.tasks if call.name == "flaky")
    assert flaky_call.attempts == 3 and flaky_call.status == "completed"
    assert len(info.children) == 2


class CountingStore(MemoryStore):
    """A memory store that counts the entries readers take from it."""

    def __init__(self) -> None:
        super().__init__()
        self.entries_read = 0

    def read_since(self, run_id: str, cursor: int = 0) -> tuple[RunSpec, list[Entry], int]:
        spec, entries, after = super().read_since(run_id, cursor)
        self.entries_read += len(entries)
        return spec, entries, after


def test_driving_a_run_to_its_end_reads_none_of_it_back() -> None:
    store = CountingStore()
    client = Client(store)
    run_id = client.create(PARENT, {"key": "unread"}).id

    info = drive(client, run_id)

    assert info.status == RunStatus.COMPLETED
    assert store.entries_read == 0
    assert document(info) == document(asyncio.run(client.get(run_id)))


# -- the tail and a held claim ---------------------------------------------------------


@pytest.fixture
def journal() -> Iterator[tuple[CountingStore, str]]:
    """A memory store with a run of three completed steps, claimed by no one."""
    store = CountingStore()
    client = Client(store)

    async def steps(input: int, run: Run) -> int:
        for n in range(input):
            await double.start(run, n)
        return input

    version = WorkflowVersion("steps", "1.0.0", steps)
    run_id = client.create(version, 3).id
    asyncio.run(Worker(client, [version]).run(until_idle=True))
    yield store, run_id


class Held:
    """A claim of the run as a worker would hold it, whose journal may await a flush."""

    def __init__(self, store: Store, run_id: str, *, unsynced: bool) -> None:
        self.spec, self.entries = store.read_run(run_id)
        self.unsynced = unsynced


def held(store: Store, run_id: str, *, unsynced: bool = False) -> Claim:
    claim: Any = Held(store, run_id, unsynced=unsynced)
    return claim  # type: ignore[no-any-return]


def test_a_durable_claim_stands_for_the_journal(journal: tuple[CountingStore, str]) -> None:
    store, run_id = journal
    tail = Tail(store, run_id)
    tail.hold(held(store, run_id))

    assert tail.read() == store.read_run(run_id)[1]
    assert store.entries_read == 0
    assert tail.read() == []
    assert tail.info.status == RunStatus.COMPLETED


def test_a_claim_awaiting_a_flush_is_read_from_the_store(
    journal: tuple[CountingStore, str],
) -> None:
    store, run_id = journal
    tail = Tail(store, run_id)
    claim = held(store, run_id, unsynced=True)
    claim.entries.append(claim.entries[-1])  # an entry the store does not hold yet
    tail.hold(claim)

    assert tail.read() == store.read_run(run_id)[1]
    assert store.entries_read == len(store.read_run(run_id)[1])


def test_a_claim_of_another_run_is_ignored(journal: tuple[CountingStore, str]) -> None:
    store, run_id = journal
    other = Client(store).create(PARENT, {"key": "other"}).id
    tail = Tail(store, run_id)
    tail.hold(held(store, other))

    assert tail.read() == store.read_run(run_id)[1]
    assert tail.info.id == run_id


def said(store: Store, run_id: str, *messages: str) -> list[Entry]:
    """Entries appended to the run's journal by a claim of it, released: durable."""
    claim = store.claim(run_id)
    assert claim is not None
    at = claim.entries[-1].at
    entries: list[Entry] = [Progress(at=at, message=message) for message in messages]
    claim.append(*entries)
    claim.release()
    return entries


def test_reads_and_held_entries_give_each_entry_once_in_order(
    journal: tuple[CountingStore, str],
) -> None:
    """Read from the store, then from a claim holding more, then from the store again:
    each entry once, in order."""
    store, run_id = journal
    tail = Tail(store, run_id)
    assert tail.read() == store.read_run(run_id)[1]
    read = store.entries_read

    claim = store.claim(run_id)
    assert claim is not None
    more: list[Entry] = [Progress(at=claim.entries[-1].at, message="held")]
    claim.append(*more)
    claim.release()
    tail.hold(claim)
    assert tail.read() == more
    assert store.entries_read == read

    tail.hold(held(store, run_id, unsynced=True))  # a later claim whose flush failed
    last = said(store, run_id, "stored")
    assert tail.read() == last  # the store's read, less the entry the claim gave
    assert tail.read() == []
    assert tail.info.progress is not None and tail.info.progress.message == "stored"


class FlushFailedStore(CountingStore):
    """A memory store whose claims never say their entries are all durable, as a claim
    whose last flush failed says."""

    def claim(self, run_id: str, *, queued_only: bool = False) -> Claim | None:
        claim = super().claim(run_id, queued_only=queued_only)
        if claim is not None:
            claim.unsynced = True  # type: ignore[misc]
        return claim


def test_driving_a_run_whose_claim_is_not_all_durable_reads_the_store() -> None:
    store = FlushFailedStore()
    client = Client(store)
    run_id = client.create(PARENT, {"key": "unsynced"}).id

    info = drive(client, run_id)

    assert info.status == RunStatus.COMPLETED
    assert store.entries_read == len(store.read_run(run_id)[1])  # each entry, once
    assert document(info) == document(asyncio.run(client.get(run_id)))
