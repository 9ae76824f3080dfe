"""The contract's whole-run operations, `export_run`, `import_run` and `remove_run`, run
against every store of the contract suite's fixture. A store joins by adding its fixture
param there and one line to `SECOND` here (how to open a second, empty store of its kind)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from aiki_cli.errors import IllegalTransition, RunClaimed, RunExists, RunNotFound
from aiki_cli.model.entry import (
    Entry,
    EventReceived,
    SleepStarted,
    StatusChanged,
    TaskCompleted,
    TaskStarted,
)
from aiki_cli.model.export import RunExport
from aiki_cli.model.status import RunStatus
from aiki_cli.store import Mail, Store
from aiki_cli.store.files import FileStore
from aiki_cli.store.memory import MemoryStore
from tests.postgres_server import fresh_schema, opened
from tests.store.test_contract import T0, Specs, spec, store

__all__ = ["spec", "store"]  # the fixtures, shared with the contract suite

SECOND: dict[type, Callable[[Path], Store]] = {
    FileStore: lambda tmp: FileStore(tmp / "second"),
    MemoryStore: lambda tmp: MemoryStore(),
}
AT = T0 + timedelta(minutes=1)
LATER = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
def second(store: Store, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    if type(store) in SECOND:
        yield SECOND[type(store)](tmp_path)
        return
    server = request.getfixturevalue("postgres_server")  # a second schema of the same server
    with fresh_schema(server) as url, opened(url) as other:
        yield other


def status(old: RunStatus, new: RunStatus, **fields: Any) -> StatusChanged:
    return StatusChanged(at=AT, old=old, new=new, **fields)


def sleeping(until: datetime = LATER) -> list[Entry]:
    """A run's journal: it ran a task, received an event (with a reference id), and sleeps."""
    return [
        status(RunStatus.PENDING, RunStatus.RUNNING, worker="w1"),
        TaskStarted(at=AT, task="charge", hash="h1", input={"amount": 12.5, "note": "ü"}),
        TaskCompleted(at=AT, task="charge", hash="h1", output={"ok": True, "id": 10**20}),
        EventReceived(at=AT, name="go", key="ref-abc", data=[1, None], reference_id="abc"),
        SleepStarted(at=AT, name="nap", seq=1, until=until),
        status(RunStatus.RUNNING, RunStatus.SLEEPING, until=until),
    ]


def ended() -> list[Entry]:
    return [
        status(RunStatus.PENDING, RunStatus.RUNNING),
        status(RunStatus.RUNNING, RunStatus.COMPLETED, result={"done": 1}),
    ]


def make_run(store: Store, spec: Specs, entries: list[Entry], **kwargs: Any) -> str:
    """A run with `entries` journaled, queued or parked as a worker would leave it."""
    run_id = store.create_run(spec(**kwargs)).id
    claim = store.claim(run_id)
    assert claim is not None
    claim.append(*entries)
    info = store.read_summary(run_id)
    if info.status.parked:
        claim.set_timer(info.due_at)
    claim.set_ready(not (info.status.parked or info.status.terminal))
    claim.release()
    return run_id


def letter(key: str = "m1", name: str = "later") -> Mail:
    return Mail(key=key, kind="event", sent_at=AT, name=name, data={"x": 1})


def test_an_export_holds_the_spec_the_journal_unread_mail_and_requests(
    store: Store, spec: Specs
) -> None:
    run_id = make_run(store, spec, sleeping())
    store.post(run_id, letter())
    store.request(run_id, "wake")
    run = store.export_run(run_id)
    assert (run.spec, run.journal) == store.read_run(run_id)
    assert run.mail == [letter()]
    assert run.requests == ["wake"]
    document = json.loads(run.to_json())
    assert list(document) == ["format", "spec", "journal", "mail", "requests"]
    assert document["format"] == 1
    assert document["journal"][0] == {
        "type": "status",
        "at": "2026-01-01T00:01:00Z",
        "from": "pending",
        "to": "running",
        "attempt": 1,
        "worker": "w1",
    }
    assert RunExport.model_validate_json(run.to_json()) == run


def test_an_imported_run_reads_back_as_it_was_exported(
    store: Store, second: Store, spec: Specs
) -> None:
    run_id = make_run(store, spec, sleeping(), key="order-7")
    store.post(run_id, letter())
    store.request(run_id, "pause")
    second.import_run(store.export_run(run_id))
    assert second.read_run(run_id) == store.read_run(run_id)
    assert second.read_summary(run_id) == store.read_summary(run_id)
    assert second.export_run(run_id) == store.export_run(run_id)
    assert second.requests(run_id) == {"pause"}
    assert [ref.id for ref in second.list_runs()] == [run_id]
    assert second.create_run(spec(key="order-7")).id == run_id  # its key came along


def test_an_imported_run_knows_the_reference_ids_it_received(
    store: Store, second: Store, spec: Specs
) -> None:
    run_id = make_run(store, spec, sleeping())
    second.import_run(store.export_run(run_id))
    assert second.posted(run_id, "ref-abc")
    assert not second.post(run_id, Mail(key="ref-abc", kind="event", sent_at=AT, name="go"))
    assert second.export_run(run_id).mail == []


def test_a_parked_import_has_its_timer_and_waits_out_of_the_queue(
    store: Store, second: Store, spec: Specs
) -> None:
    run_id = make_run(store, spec, sleeping(until=LATER))
    second.import_run(store.export_run(run_id))
    assert not second.is_ready(run_id)
    assert second.next_due() == LATER
    assert [timer.target for timer in second.due_timers(LATER)] == [run_id]
    assert second.due_timers(LATER - timedelta(seconds=1)) == []


def test_a_pending_import_is_queued_and_an_ended_one_is_not(
    store: Store, second: Store, spec: Specs
) -> None:
    pending = store.create_run(spec()).id
    done = make_run(store, spec, ended())
    for run_id in (pending, done):
        second.import_run(store.export_run(run_id))
    assert second.ready_runs() == [pending]
    assert second.next_due() is None


def test_a_parked_import_with_mail_waiting_is_queued(
    store: Store, second: Store, spec: Specs
) -> None:
    run_id = make_run(store, spec, sleeping())
    store.post(run_id, letter())
    second.import_run(store.export_run(run_id))
    assert second.is_ready(run_id)


def test_an_import_of_an_id_the_store_has_is_refused_and_writes_nothing(
    store: Store, spec: Specs
) -> None:
    run_id = make_run(store, spec, sleeping())
    before = (store.export_run(run_id), list(store.list_runs()), store.ready_runs())
    changed = store.export_run(run_id).model_copy(update={"journal": ended(), "mail": [letter()]})
    with pytest.raises(RunExists) as caught:
        store.import_run(changed)
    assert caught.value.exit_code == 2
    assert "--new-id" in caught.value.message
    assert (store.export_run(run_id), list(store.list_runs()), store.ready_runs()) == before


def test_an_import_whose_key_names_another_run_is_refused(
    store: Store, second: Store, spec: Specs
) -> None:
    holder = second.create_run(spec(key="order-7"))
    run_id = make_run(store, spec, ended(), key="order-7")
    with pytest.raises(RunExists, match=holder.id):
        second.import_run(store.export_run(run_id))
    with pytest.raises(RunNotFound):
        second.read_run(run_id)
    assert [ref.id for ref in second.list_runs()] == [holder.id]


def test_an_import_under_a_new_id_is_another_run_without_the_key(store: Store, spec: Specs) -> None:
    run_id = make_run(store, spec, ended(), key="order-7")
    copy = store.export_run(run_id).with_id(spec().id)
    store.import_run(copy)
    assert store.read_run(copy.spec.id)[1] == store.read_run(run_id)[1]
    assert store.read_run(copy.spec.id)[0].idempotency_key is None
    assert store.create_run(spec(key="order-7")).id == run_id


def test_a_removed_run_is_gone_from_every_index(store: Store, spec: Specs) -> None:
    kept = make_run(store, spec, ended())
    run_id = make_run(store, spec, ended(), key="order-7")
    claim = store.claim(run_id)
    assert claim is not None
    claim.set_timer(LATER)  # an ended run has none, but a store removes any it has
    claim.set_ready(True)
    claim.release()
    store.remove_run(run_id)
    with pytest.raises(RunNotFound):
        store.read_run(run_id)
    assert [ref.id for ref in store.list_runs()] == [kept]
    assert store.ready_runs() == []
    assert store.next_due() is None
    assert store.create_run(spec(key="order-7")).id != run_id  # the key starts anew


def test_a_removed_run_imported_again_is_as_it_was(store: Store, spec: Specs) -> None:
    run_id = make_run(store, spec, ended(), key="order-7")
    exported = store.export_run(run_id)
    summary = store.read_summary(run_id)
    store.remove_run(run_id)
    store.import_run(exported)
    assert store.read_summary(run_id) == summary
    assert [ref.id for ref in store.list_runs()] == [run_id]
    assert store.create_run(spec(key="order-7")).id == run_id


def test_removing_a_run_that_has_not_ended_is_refused(store: Store, spec: Specs) -> None:
    run_id = make_run(store, spec, sleeping())
    with pytest.raises(IllegalTransition) as caught:
        store.remove_run(run_id)
    assert caught.value.exit_code == 2
    assert store.read_summary(run_id).status == RunStatus.SLEEPING
    assert store.next_due() == LATER


def test_removing_a_claimed_run_is_refused(store: Store, spec: Specs) -> None:
    run_id = make_run(store, spec, ended())
    claim = store.claim(run_id)
    assert claim is not None
    try:
        with pytest.raises(RunClaimed, match="claimed"):
            store.remove_run(run_id)
    finally:
        claim.release()
    assert store.read_summary(run_id).status == RunStatus.COMPLETED


def test_the_whole_run_operations_raise_for_a_missing_run(store: Store) -> None:
    from tests.store.test_contract import UNKNOWN

    for act in (store.export_run, store.remove_run):
        with pytest.raises(RunNotFound):
            act(UNKNOWN)


# -- the file store: journals byte for byte -----------------------------------------------


def test_a_file_store_import_writes_the_journal_byte_for_byte(tmp_path: Path, spec: Specs) -> None:
    source, target = FileStore(tmp_path / "a"), FileStore(tmp_path / "b")
    run_id = make_run(source, spec, sleeping())
    target.import_run(source.export_run(run_id))
    journal = Path("run", run_id, "journal.jsonl")
    written = (source.root / journal).read_bytes()
    assert written.count(b"\n") == len(sleeping())
    assert (target.root / journal).read_bytes() == written
    assert (target.root / "run" / run_id / "run.json").read_bytes() == (
        source.root / "run" / run_id / "run.json"
    ).read_bytes()


def test_a_removed_run_leaves_no_file_behind(tmp_path: Path, spec: Specs) -> None:
    store = FileStore(tmp_path / "runs")
    run_id = make_run(store, spec, ended(), key="k")
    store.remove_run(run_id)
    left = {p.relative_to(store.root).as_posix() for p in store.root.rglob("*") if p.is_file()}
    assert left == {"index/created.log"}
    assert (store.root / "index" / "created.log").read_text().splitlines()[-1] == f"{run_id} -"


@pytest.mark.parametrize("where", ["mail", "journal"])
def test_an_export_whose_keys_would_name_paths_is_refused(spec: Specs, where: str) -> None:
    """Stores name files after mail keys (inbox/<key>.json, refs/<key>)."""
    bad = "../../x"
    fields: dict[str, Any] = {
        "mail": {"mail": [letter(bad)]},
        "journal": {
            "journal": [EventReceived(at=AT, name="go", key=bad, reference_id="r")],
        },
    }[where]
    with pytest.raises(ValidationError, match="is not a mail key"):
        RunExport(spec=spec(), **fields)
