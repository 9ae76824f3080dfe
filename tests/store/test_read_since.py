"""The incremental read (`Store.read_since`) and the `Tail` that follows a run with it: the
same contract on every store, and what only the file store's byte cursor must survive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aiki_cli.errors import InvalidRunId, RunDamaged, RunNotFound
from aiki_cli.model.entry import Entry, StatusChanged, TaskCompleted, TaskStarted
from aiki_cli.model.journal import summarize
from aiki_cli.model.runinfo import RunSpec
from aiki_cli.model.status import RunStatus
from aiki_cli.store import Store
from aiki_cli.store.files import FileStore
from aiki_cli.store.memory import MemoryStore
from aiki_cli.store.tail import Tail
from aiki_cli.values.ids import new_run_id

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "file":
        return FileStore(tmp_path / "runs")
    return MemoryStore()


@pytest.fixture
def spec(store: Store) -> RunSpec:
    return store.create_run(
        RunSpec(
            id=new_run_id(T0, b"\x01" * 10),
            workflow="orders",
            version="1.0.0",
            input={"n": 1},
            created_at=T0,
        )
    )


def step(n: int) -> list[Entry]:
    at = T0 + timedelta(seconds=n)
    return [
        TaskStarted(at=at, task="t", hash=f"h{n}", input=n),
        TaskCompleted(at=at, task="t", hash=f"h{n}", output=n * 10),
    ]


def append(store: Store, run_id: str, *entries: Entry) -> None:
    claim = store.claim(run_id)
    assert claim is not None
    claim.append(*entries)
    claim.release()


RUNNING = StatusChanged(at=T0, old=RunStatus.PENDING, new=RunStatus.RUNNING)
COMPLETED = StatusChanged(at=T0, old=RunStatus.RUNNING, new=RunStatus.COMPLETED, result=3)


def test_a_new_run_reads_its_spec_and_no_entries(store: Store, spec: RunSpec) -> None:
    read, entries, cursor = store.read_since(spec.id)
    assert (read, entries) == (spec, [])
    assert store.read_since(spec.id, cursor) == (spec, [], cursor)


def test_each_read_returns_only_what_was_appended_since_the_last(
    store: Store, spec: RunSpec
) -> None:
    append(store, spec.id, RUNNING, *step(1))
    _, first, cursor = store.read_since(spec.id)
    assert first == [RUNNING, *step(1)]
    append(store, spec.id, *step(2))
    _, second, cursor = store.read_since(spec.id, cursor)
    assert second == step(2)
    _, third, again = store.read_since(spec.id, cursor)
    assert (third, again) == ([], cursor)
    assert first + second == store.read_run(spec.id)[1]


def test_read_since_raises_as_read_run(store: Store) -> None:
    with pytest.raises(InvalidRunId):
        store.read_since("../etc")
    with pytest.raises(RunNotFound):
        store.read_since(new_run_id(T0, b"\x09" * 10))


def test_a_tail_folds_to_what_the_store_summarizes(store: Store, spec: RunSpec) -> None:
    tail = Tail(store, spec.id)
    assert tail.info.status == RunStatus.PENDING
    append(store, spec.id, RUNNING, *step(1))
    assert tail.read() == [RUNNING, *step(1)]
    assert tail.info.status == RunStatus.RUNNING
    append(store, spec.id, *step(2), COMPLETED)
    assert tail.read() == [*step(2), COMPLETED]
    assert tail.read() == []
    assert tail.info == summarize(*store.read_run(spec.id))
    assert tail.info.result == 3


def test_a_line_being_written_waits_for_its_end(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "runs")
    spec = store.create_run(
        RunSpec(id=new_run_id(T0, b"\x02" * 10), workflow="w", version="1", created_at=T0)
    )
    append(store, spec.id, RUNNING)
    journal = store.root / "run" / spec.id / "journal.jsonl"
    whole = journal.read_bytes()
    _, entries, cursor = store.read_since(spec.id)
    line = b'{"type":"task_started","at":"2026-01-01T00:00:01Z","task":"t","hash":"h1","input":1}\n'
    journal.write_bytes(whole + line[:20])  # half a line: a write in progress, or torn
    assert store.read_since(spec.id, cursor) == (spec, [], cursor)
    journal.write_bytes(whole + line)
    _, entries, after = store.read_since(spec.id, cursor)
    assert [entry.type for entry in entries] == ["task_started"]
    assert after == len(whole + line)


def test_a_damaged_line_past_the_cursor_is_named_by_its_line_in_the_file(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "runs")
    spec = store.create_run(
        RunSpec(id=new_run_id(T0, b"\x03" * 10), workflow="w", version="1", created_at=T0)
    )
    append(store, spec.id, RUNNING, *step(1))
    _, _, cursor = store.read_since(spec.id)
    journal = store.root / "run" / spec.id / "journal.jsonl"
    with journal.open("ab") as file:
        file.write(b"not an entry\n")
    with pytest.raises(RunDamaged) as raised:
        store.read_since(spec.id, cursor)
    assert raised.value.line == 4
