"""The store contract: one suite, run against every store (STYLE "Storage")."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aiki_cli import oslayer
from aiki_cli.errors import InvalidRunId, RunNotFound
from aiki_cli.model.entry import Entry, StatusChanged, TaskCompleted, TaskStarted
from aiki_cli.model.journal import summarize
from aiki_cli.model.runinfo import RunSpec
from aiki_cli.model.status import RunStatus
from aiki_cli.store import Claim, Store, open_store
from aiki_cli.store.files import FileStore
from aiki_cli.store.memory import MemoryStore
from aiki_cli.store.tail import Tail
from aiki_cli.values.canonical import input_hash
from aiki_cli.values.ids import new_run_id
from tests.postgres_server import opened

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["file", "memory", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "file":
        yield FileStore(tmp_path / "runs")
    elif request.param == "memory":
        yield MemoryStore()
    else:
        with opened(request.getfixturevalue("postgres_url")) as store:
            yield store


class Specs:
    """Run specs with ids that sort by creation, like the client's."""

    def __init__(self) -> None:
        self.made = 0

    def __call__(self, workflow: str = "orders", key: str | None = None, **input: int) -> RunSpec:
        self.made += 1
        now = T0 + timedelta(seconds=self.made)
        return RunSpec(
            id=new_run_id(now, self.made.to_bytes(10, "big")),
            workflow=workflow,
            version="1.0.0",
            input=input or {"n": self.made},
            created_at=now,
            idempotency_key=key,
        )


@pytest.fixture
def spec() -> Specs:
    return Specs()


@pytest.fixture
def claimed(store: Store, spec: Specs) -> Iterator[Claim]:
    created = store.create_run(spec())
    claim = store.claim(created.id)
    assert claim is not None
    yield claim
    claim.release()


def test_the_store_fixture_gives_stores(store: Store) -> None:
    assert isinstance(store, Store)
    assert open_store(store) is store


def test_a_created_run_reads_back(store: Store, spec: Specs) -> None:
    created = spec(amount=12)
    assert store.create_run(created) == created
    read, entries = store.read_run(created.id)
    assert read == created
    assert read.input == {"amount": 12}
    assert entries == []


def test_an_idempotency_key_returns_the_run_it_started(store: Store, spec: Specs) -> None:
    first = store.create_run(spec(key="order-7"))
    again = spec(key="order-7")
    assert store.create_run(again) == first
    assert [ref.id for ref in store.list_runs()] == [first.id]
    assert store.ready_runs() == [first.id]
    with pytest.raises(RunNotFound):
        store.read_run(again.id)


def test_the_same_key_for_another_workflow_is_another_run(store: Store, spec: Specs) -> None:
    orders = store.create_run(spec("orders", key="k"))
    refunds = store.create_run(spec("refunds", key="k"))
    assert refunds.id != orders.id
    assert store.read_run(refunds.id)[0].workflow == "refunds"
    assert [ref.id for ref in store.list_runs()] == [refunds.id, orders.id]


def test_list_runs_is_newest_first(store: Store, spec: Specs) -> None:
    specs = [store.create_run(spec(workflow)) for workflow in ("a", "b", "c")]
    refs = list(store.list_runs())
    assert [ref.id for ref in refs] == [s.id for s in reversed(specs)]
    assert [(ref.workflow, ref.version) for ref in refs] == [
        ("c", "1.0.0"),
        ("b", "1.0.0"),
        ("a", "1.0.0"),
    ]


def test_an_empty_store_lists_nothing(store: Store) -> None:
    assert list(store.list_runs()) == []
    assert store.ready_runs() == []
    assert store.live_workers() == []


def test_a_new_run_is_ready_until_taken_out(store: Store, spec: Specs) -> None:
    created = store.create_run(spec())
    assert store.ready_runs() == [created.id]
    assert store.is_ready(created.id)
    claim = store.claim(created.id)
    assert claim is not None
    claim.set_ready(False)
    assert store.ready_runs() == []
    assert not store.is_ready(created.id)
    claim.set_ready(True)
    assert store.ready_runs() == [created.id]
    assert store.is_ready(created.id)
    claim.release()


@pytest.mark.parametrize("then", ["release", "append"])
def test_a_run_taken_out_at_release_is_out_by_the_claim_s_next_call(
    store: Store, spec: Specs, then: str
) -> None:
    """How an ended or paused run leaves the queue: by the claim's release, or its next
    call before that, at the latest."""
    created = store.create_run(spec())
    claim = store.claim(created.id)
    assert claim is not None
    claim.set_ready(False, at_release=True)
    if then == "append":
        claim.append(StatusChanged(at=T0, old=RunStatus.PENDING, new=RunStatus.RUNNING))
        assert store.ready_runs() == []
    claim.release()
    assert store.ready_runs() == []
    assert not store.is_ready(created.id)


def test_a_claim_says_whether_its_run_was_queued_when_taken(store: Store, spec: Specs) -> None:
    created = store.create_run(spec())
    claim = store.claim(created.id)
    assert claim is not None and claim.queued
    claim.set_ready(False)
    assert claim.queued  # as it was when taken
    claim.release()
    claim = store.claim(created.id)
    assert claim is not None and not claim.queued
    claim.release()


def test_a_flush_makes_what_was_appended_with_sync_durable(claimed: Claim) -> None:
    claimed.append(TaskStarted(at=T0, task="t", hash="h", input=1, attempt=1), sync=False)
    claimed.flush()
    assert not claimed.unsynced  # nothing waits: the next flush has nothing to do
    claimed.append(StatusChanged(at=T0, old=RunStatus.PENDING, new=RunStatus.COMPLETED))
    claimed.flush()
    assert not claimed.unsynced


def test_claims_flushed_together_are_all_durable(
    store: Store, spec: Specs, monkeypatch: pytest.MonkeyPatch
) -> None:
    if isinstance(store, FileStore) and oslayer.syncfs() is None:
        pytest.skip("the file store syncs claims together with Linux's syncfs")
    monkeypatch.setattr(oslayer, "unwritten_bytes", lambda: 0)  # an idle machine
    claims = [store.claim(store.create_run(spec()).id) for _ in range(3)]
    held = [claim for claim in claims if claim is not None]
    try:
        assert len(held) == 3
        for claim in held:
            claim.append(StatusChanged(at=T0, old=RunStatus.PENDING, new=RunStatus.RUNNING))
        assert store.flush_together(held)
        assert not any(claim.unsynced for claim in held)
    finally:
        for claim in held:
            claim.release()


def test_a_claim_is_exclusive_until_released(store: Store, spec: Specs) -> None:
    created = store.create_run(spec())
    first = store.claim(created.id)
    assert first is not None
    assert first.spec == created
    assert store.claim(created.id) is None
    assert store.claim(created.id) is None
    first.release()
    second = store.claim(created.id)
    assert second is not None
    second.release()


def test_claims_of_different_runs_do_not_conflict(store: Store, spec: Specs) -> None:
    one, two = store.create_run(spec()), store.create_run(spec())
    claims = [store.claim(one.id), store.claim(two.id)]
    assert all(claim is not None for claim in claims)
    for claim in claims:
        assert claim is not None
        claim.release()


def journal(at: datetime) -> list[Entry]:
    digest = input_hash({"amount": 3})
    return [
        StatusChanged(at=at, old=RunStatus.PENDING, new=RunStatus.RUNNING, worker="w1"),
        TaskStarted(at=at, task="charge", hash=digest, input={"amount": 3}),
        TaskCompleted(at=at, task="charge", hash=digest, output={"paid": True}),
        StatusChanged(
            at=at, old=RunStatus.RUNNING, new=RunStatus.COMPLETED, result={"ok": [1, "é"]}
        ),
    ]


def test_appended_entries_read_back_in_order(store: Store, claimed: Claim) -> None:
    first, *rest = journal(T0)
    claimed.append(first)
    claimed.append(*rest[:2], sync=False)
    claimed.append(rest[2])
    assert store.read_run(claimed.spec.id)[1] == journal(T0)
    assert claimed.entries == journal(T0)


def test_a_new_claim_sees_the_journal(store: Store, claimed: Claim) -> None:
    claimed.append(*journal(T0))
    claimed.release()
    again = store.claim(claimed.spec.id)
    assert again is not None
    assert again.entries == journal(T0)
    again.release()


def test_a_claim_reports_only_the_kinds_of_request_asked_for(store: Store, claimed: Claim) -> None:
    store.request(claimed.spec.id, "pause")
    store.request(claimed.spec.id, "wake")
    assert claimed.requests() == {"pause", "wake"}
    assert claimed.requests(("cancel", "pause")) == {"pause"}
    assert claimed.requests(("cancel",)) == frozenset()
    store.request(claimed.spec.id, "cancel")
    assert claimed.requests(("cancel",)) == {"cancel"}


def test_a_start_is_journaled_unless_a_request_of_the_kinds_looked_for_waits(
    store: Store, claimed: Claim
) -> None:
    """`append_unless` looks and appends at once: the start goes in only when none of
    the kinds looked for is requested; the requests found are returned."""
    run_id = claimed.spec.id
    store.request(run_id, "wake")  # not a kind looked for: no obstacle
    first = TaskStarted(at=T0, task="a", hash="h1", input=None, attempt=1)
    assert claimed.append_unless(("cancel", "pause"), first) == frozenset()
    store.request(run_id, "pause")
    second = TaskStarted(at=T0, task="b", hash="h2", input=None, attempt=1)
    assert claimed.append_unless(("cancel", "pause"), second) == {"pause"}
    assert claimed.entries[-1] == first
    claimed.flush()
    assert store.read_run(run_id)[1][-1] == first  # the second start was not journaled


def test_a_start_journaled_with_a_flush_leaves_nothing_to_flush(
    store: Store, claimed: Claim
) -> None:
    claimed.append(StatusChanged(at=T0, old=RunStatus.PENDING, new=RunStatus.RUNNING))
    assert claimed.unsynced or isinstance(store, MemoryStore)
    first = TaskStarted(at=T0, task="a", hash="h1", input=None, attempt=1)
    assert claimed.append_unless(("cancel",), first, flush=True) == frozenset()
    assert not claimed.unsynced
    claimed.append(TaskCompleted(at=T0, task="a", hash="h1", output=1, attempt=1))
    store.request(claimed.spec.id, "cancel")
    second = TaskStarted(at=T0, task="b", hash="h2", input=None, attempt=1)
    assert claimed.append_unless(("cancel",), second, flush=True) == {"cancel"}
    assert claimed.unsynced or isinstance(store, MemoryStore)  # nothing appended, nor flushed


def test_a_run_s_end_is_journaled_with_its_status_unless_a_cancel_waits(
    store: Store, claimed: Claim
) -> None:
    """A run's end looks for a cancel with its append: appended, the end changes the
    run's status and waits for a flush like any `sync` append; not appended, neither."""
    run_id = claimed.spec.id
    running = StatusChanged(at=T0, old=RunStatus.PENDING, new=RunStatus.RUNNING)
    claimed.append(running, sync=False)
    claimed.flush()
    store.request(run_id, "cancel")
    done = StatusChanged(at=T0, old=RunStatus.RUNNING, new=RunStatus.COMPLETED, result=1)
    assert claimed.append_unless(("cancel",), done, sync=True) == {"cancel"}
    assert not claimed.unsynced
    assert store.read_summary(run_id, tasks=False).status == RunStatus.RUNNING
    claimed.clear_request("cancel")
    assert claimed.append_unless(("cancel",), done, sync=True) == frozenset()
    assert claimed.unsynced or isinstance(store, MemoryStore)
    claimed.flush()
    assert store.read_run(run_id)[1][-2:] == [running, done]
    assert store.read_summary(run_id, tasks=False).status == RunStatus.COMPLETED


def test_a_cancel_request_is_seen_and_queues_the_run(store: Store, claimed: Claim) -> None:
    run_id = claimed.spec.id
    claimed.set_ready(False)
    assert "cancel" not in store.requests(run_id)
    assert "cancel" not in claimed.requests()
    store.request(run_id, "cancel")
    assert "cancel" in store.requests(run_id)
    assert "cancel" in claimed.requests()
    assert store.ready_runs() == [run_id]
    store.request(run_id, "cancel")  # asking twice is harmless
    assert "cancel" in store.requests(run_id)


UNKNOWN = new_run_id(T0, bytes(10))


def test_a_claim_of_a_queued_run_only_passes_over_a_run_out_of_the_queue(
    store: Store, spec: Specs
) -> None:
    run_id = store.create_run(spec()).id
    claim = store.claim(run_id, queued_only=True)
    assert claim is not None and claim.queued
    claim.leave_queue()
    claim.release()
    assert store.claim(run_id, queued_only=True) is None
    claim = store.claim(run_id)  # the claim passed over holds nothing
    assert claim is not None and not claim.queued
    claim.release()
    assert store.claim(UNKNOWN, queued_only=True) is None  # no run is in no queue
    with pytest.raises(InvalidRunId):
        store.claim("../x", queued_only=True)


def test_an_unknown_run_is_not_found(store: Store, spec: Specs) -> None:
    store.create_run(spec())
    for act in (store.read_run, store.claim, store.requests, store.mark_ready):
        with pytest.raises(RunNotFound) as caught:
            act(UNKNOWN)
        assert caught.value.exit_code == 4
        assert caught.value.run_id == UNKNOWN
        assert isinstance(caught.value, LookupError)


def snapshot(root: Path) -> set[Path]:
    return set(root.rglob("*")) if root.exists() else set()


@pytest.mark.parametrize("bad_id", ["../x", "/etc/passwd", "", ".", "..", UNKNOWN + "/..", "a\0b"])
def test_a_malformed_id_is_refused_before_any_file_is_touched(
    store: Store, spec: Specs, tmp_path: Path, bad_id: str
) -> None:
    store.create_run(spec())
    before = snapshot(tmp_path)
    for act in (store.read_run, store.claim, store.requests, store.mark_ready):
        with pytest.raises(InvalidRunId) as caught:
            act(bad_id)
        assert caught.value.exit_code == 2
    assert snapshot(tmp_path) == before


def test_a_registered_worker_is_live_while_its_context_is_open(store: Store) -> None:
    info = {"id": "w1", "pid": 123, "workflows": ["orders@1.0.0"]}
    with store.register_worker("w1", info):
        assert store.live_workers() == [info]
        with store.register_worker("w2", {"id": "w2"}):
            assert sorted(worker["id"] for worker in store.live_workers()) == ["w1", "w2"]
        assert store.live_workers() == [info]
    assert store.live_workers() == []


def test_a_worker_id_cannot_be_registered_twice(store: Store) -> None:
    with store.register_worker("w1", {"id": "w1"}):
        with pytest.raises(RuntimeError, match="already in use"), store.register_worker("w1", {}):
            pass
        assert store.live_workers() == [{"id": "w1"}]


def test_releasing_a_claim_twice_does_not_free_a_later_claim(store: Store, spec: Specs) -> None:
    created = store.create_run(spec())
    stale = store.claim(created.id)
    assert stale is not None
    stale.release()
    current = store.claim(created.id)
    assert current is not None
    stale.release()
    assert store.claim(created.id) is None
    current.release()


# -- the incremental read (`read_since`) and the tail that follows a run with it --------


def _steps(*numbers: int) -> list[Entry]:
    return [
        entry
        for n in numbers
        for entry in (
            TaskStarted(at=T0, task="t", hash=f"h{n}", input=n),
            TaskCompleted(at=T0, task="t", hash=f"h{n}", output=n * 10),
        )
    ]


def _append(store: Store, run_id: str, *entries: Entry) -> None:
    claim = store.claim(run_id)
    assert claim is not None
    claim.append(*entries)
    claim.release()


_RUNNING = StatusChanged(at=T0, old=RunStatus.PENDING, new=RunStatus.RUNNING)
_COMPLETED = StatusChanged(at=T0, old=RunStatus.RUNNING, new=RunStatus.COMPLETED, result=3)


def test_read_since_gives_a_new_run_its_spec_and_no_entries(store: Store, spec: Specs) -> None:
    created = store.create_run(spec())
    read, entries, cursor = store.read_since(created.id)
    assert (read, entries) == (created, [])
    assert store.read_since(created.id, cursor) == (created, [], cursor)


def test_read_since_returns_only_what_was_appended_since_the_last_read(
    store: Store, spec: Specs
) -> None:
    run_id = store.create_run(spec()).id
    _append(store, run_id, _RUNNING, *_steps(1))
    _, first, cursor = store.read_since(run_id)
    assert first == [_RUNNING, *_steps(1)]
    _append(store, run_id, *_steps(2))
    _, second, cursor = store.read_since(run_id, cursor)
    assert second == _steps(2)
    _, third, again = store.read_since(run_id, cursor)
    assert (third, again) == ([], cursor)
    assert first + second == store.read_run(run_id)[1]


def test_read_since_raises_as_read_run(store: Store) -> None:
    with pytest.raises(InvalidRunId):
        store.read_since("../etc")
    with pytest.raises(RunNotFound):
        store.read_since(new_run_id(T0, b"\x09" * 10))


def test_a_tail_folds_what_it_reads_to_what_the_journal_summarizes(
    store: Store, spec: Specs
) -> None:
    run_id = store.create_run(spec()).id
    tail = Tail(store, run_id)
    assert tail.info.status == RunStatus.PENDING
    _append(store, run_id, _RUNNING, *_steps(1))
    assert tail.read() == [_RUNNING, *_steps(1)]
    assert tail.info.status == RunStatus.RUNNING
    _append(store, run_id, *_steps(2), _COMPLETED)
    assert tail.read() == [*_steps(2), _COMPLETED]
    assert tail.read() == []
    assert tail.info == summarize(*store.read_run(run_id))
    assert tail.info.result == 3


def test_examine_counts_every_run_and_leaves_a_held_one_alone(store: Store, spec: Specs) -> None:
    first = store.create_run(spec())
    held = store.create_run(spec())
    claim = store.claim(held.id)
    assert claim is not None
    report = store.examine()
    claim.release()
    assert (report.store, report.runs, report.busy) == (store.location, 2, [held.id])
    assert report.healthy and report.findings == []
    assert store.examine(repair=True).document() == {
        "store": store.location,
        "healthy": True,
        "runs": 2,
        "busy": [],
        "findings": [],
    }
    assert store.read_run(first.id) == (first, [])
