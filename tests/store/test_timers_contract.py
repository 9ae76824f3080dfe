"""The store contract for timers, schedules and mail, run against every store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aiki_cli.model.runinfo import RunSpec
from aiki_cli.model.schedule import Schedule
from aiki_cli.store import Claim, Mail, Store, Timer
from aiki_cli.store.files import FileStore
from aiki_cli.store.memory import MemoryStore
from aiki_cli.values.ids import new_run_id
from tests.postgres_server import opened

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture(params=["file", "memory", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "file":
        yield FileStore(tmp_path / "runs")
    elif request.param == "memory":
        yield MemoryStore()
    else:
        with opened(request.getfixturevalue("postgres_url")) as store:
            yield store


def new_run(store: Store, n: int = 1) -> str:
    spec = RunSpec(
        id=new_run_id(at(n), n.to_bytes(10, "big")),
        workflow="orders",
        version="1.0.0",
        input={"n": n},
        created_at=at(n),
    )
    return store.create_run(spec).id


@pytest.fixture
def claimed(store: Store) -> Iterator[Claim]:
    claim = store.claim(new_run(store))
    assert claim is not None
    yield claim
    claim.release()


def schedule(schedule_id: str = "nightly", due: float = 60, **fields: Any) -> Schedule:
    return Schedule(
        id=schedule_id,
        workflow="orders",
        version="1.0.0",
        every=60,
        created_at=T0,
        next_due=at(due),
        **fields,
    )


def mail(key: str, sent: float = 0, reference_id: str | None = None, **fields: Any) -> Mail:
    return Mail(
        key=key, kind="event", sent_at=at(sent), name="paid", reference_id=reference_id, **fields
    )


# -- timers ---------------------------------------------------------------------------


def test_an_empty_store_has_no_timers(store: Store) -> None:
    assert store.due_timers(at(10**9)) == []
    assert store.next_due() is None
    assert store.schedules() == []


def test_due_timers_are_earliest_first_up_to_and_including_now(store: Store) -> None:
    store.save_schedule(schedule("late", due=30))
    store.save_schedule(schedule("early", due=10))
    store.save_schedule(schedule("later", due=40))
    assert store.due_timers(at(9)) == []
    assert store.due_timers(at(10)) == [Timer(at(10), "schedule", "early")]
    assert store.due_timers(at(35)) == [
        Timer(at(10), "schedule", "early"),
        Timer(at(30), "schedule", "late"),
    ]
    assert [timer.target for timer in store.due_timers(at(100))] == ["early", "late", "later"]
    assert store.next_due() == at(10)


def test_run_timers_and_schedule_timers_share_one_index(store: Store, claimed: Claim) -> None:
    store.save_schedule(schedule(due=20))
    claimed.set_timer(at(10))
    assert store.due_timers(at(30)) == [
        Timer(at(10), "run", claimed.spec.id),
        Timer(at(20), "schedule", "nightly"),
    ]
    assert store.next_due() == at(10)


def test_a_run_timer_is_replaced_by_the_next_and_removed_by_none(
    store: Store, claimed: Claim
) -> None:
    claimed.set_timer(at(10))
    claimed.set_timer(at(50))
    assert store.due_timers(at(49)) == []
    assert store.due_timers(at(50)) == [Timer(at(50), "run", claimed.spec.id)]
    claimed.set_timer(None)
    assert store.due_timers(at(100)) == []
    assert store.next_due() is None


def test_clearing_a_timer_removes_it_alone(store: Store, claimed: Claim) -> None:
    store.save_schedule(schedule(due=10))
    claimed.set_timer(at(10))
    store.clear_timer(Timer(at(10), "schedule", "nightly"))
    assert store.due_timers(at(10)) == [Timer(at(10), "run", claimed.spec.id)]
    store.clear_timer(Timer(at(10), "schedule", "nightly"))  # clearing twice is harmless
    store.clear_timer(Timer(at(10), "run", claimed.spec.id))
    assert store.due_timers(at(100)) == []


def test_clearing_a_stale_timer_keeps_the_current_one(store: Store) -> None:
    store.save_schedule(schedule(due=10))
    stale = store.due_timers(at(10))[0]
    store.save_schedule(schedule(due=70))  # fired meanwhile by another worker
    store.clear_timer(stale)
    assert store.next_due() == at(70)
    assert store.due_timers(at(70)) == [Timer(at(70), "schedule", "nightly")]


def test_a_timer_never_fires_before_its_due_time(store: Store) -> None:
    due = at(10) + timedelta(microseconds=400)
    store.save_schedule(schedule(due=0).model_copy(update={"next_due": due}))
    assert store.due_timers(due - timedelta(microseconds=1)) == []
    assert store.due_timers(due + timedelta(milliseconds=1)) != []


def test_rearming_gives_an_active_schedule_without_a_timer_one(store: Store) -> None:
    store.save_schedule(schedule(due=10))
    store.save_schedule(schedule("paused", due=20, paused=True))
    assert store.rearm_schedules() == []  # both as they should be
    store.clear_timer(store.due_timers(at(10))[0])  # lost, as a save killed midway loses it
    assert store.due_timers(at(100)) == []
    assert store.rearm_schedules() == ["nightly"]
    assert store.due_timers(at(100)) == [Timer(at(10), "schedule", "nightly")]
    assert store.rearm_schedules() == []


# -- schedules ------------------------------------------------------------------------


def test_a_saved_schedule_reads_back_and_indexes_its_due_time(store: Store) -> None:
    saved = schedule(input={"n": 1}, overlap="allow", last_run_id="r")
    store.save_schedule(saved)
    assert store.schedules() == [saved]
    assert store.due_timers(at(60)) == [Timer(at(60), "schedule", "nightly")]


def test_a_schedule_is_found_by_its_id_alone(store: Store) -> None:
    for name in ("a", "b"):
        store.save_schedule(schedule(name, input={"name": name}))
    found = store.schedule("b")
    assert found is not None and found.input == {"name": "b"}
    assert store.schedule("c") is None
    assert store.schedule("no/such id") is None  # no schedule can have it
    store.remove_schedule("b")
    assert store.schedule("b") is None


def test_schedules_are_listed_by_id(store: Store) -> None:
    for name in ("b", "c", "a"):
        store.save_schedule(schedule(name))
    assert [found.id for found in store.schedules()] == ["a", "b", "c"]


def test_saving_a_schedule_again_replaces_it_and_its_timer(store: Store) -> None:
    store.save_schedule(schedule(due=60))
    moved = schedule(due=120, last_run_id="r1")
    store.save_schedule(moved)
    assert store.schedules() == [moved]
    assert store.due_timers(at(1000)) == [Timer(at(120), "schedule", "nightly")]


def test_a_paused_schedule_has_no_timer_until_resumed(store: Store) -> None:
    store.save_schedule(schedule(due=60))
    store.save_schedule(schedule(due=60, paused=True))
    assert store.due_timers(at(1000)) == []
    assert store.next_due() is None
    assert store.schedules()[0].paused
    store.save_schedule(schedule(due=180))
    assert store.due_timers(at(1000)) == [Timer(at(180), "schedule", "nightly")]


def test_a_removed_schedule_takes_its_timer_along(store: Store) -> None:
    store.save_schedule(schedule("keep", due=30))
    store.save_schedule(schedule("drop", due=10))
    store.remove_schedule("drop")
    assert [found.id for found in store.schedules()] == ["keep"]
    assert store.due_timers(at(1000)) == [Timer(at(30), "schedule", "keep")]
    store.remove_schedule("drop")  # removing twice is harmless
    store.remove_schedule("keep")
    assert store.schedules() == []
    assert store.next_due() is None


# -- mail -----------------------------------------------------------------------------


def test_posted_mail_is_read_oldest_first_and_queues_the_run(store: Store, claimed: Claim) -> None:
    run_id = claimed.spec.id
    claimed.set_ready(False)
    assert store.post(run_id, mail("b", sent=2))
    assert store.post(run_id, mail("a", sent=1, data={"x": 1}))
    assert store.post(run_id, mail("c", sent=1))
    assert [letter.key for letter in claimed.mail()] == ["a", "c", "b"]
    assert claimed.mail()[0] == mail("a", sent=1, data={"x": 1})
    assert store.ready_runs() == [run_id]


def test_a_claim_s_first_look_is_its_mail_and_requests_as_claimed(store: Store) -> None:
    """`inbox` and `requested` answer the engine's first look, read with the claim; mail
    and requests arriving later are for `mail()` and `requests()`, which look again."""
    run_id = new_run(store)
    assert store.post(run_id, mail("b", sent=2))
    assert store.post(run_id, mail("a", sent=1, data={"x": 1}))
    store.request(run_id, "wake")
    claim = store.claim(run_id)
    assert claim is not None
    try:
        assert [letter.key for letter in claim.inbox] == ["a", "b"]
        assert claim.inbox[0] == mail("a", sent=1, data={"x": 1})
        assert claim.requested == {"wake"}
        assert store.post(run_id, mail("c", sent=0))
        store.request(run_id, "cancel")
        assert [letter.key for letter in claim.inbox] == ["a", "b"]
        assert claim.requested == {"wake"}
        assert [letter.key for letter in claim.mail()] == ["c", "a", "b"]
        assert claim.requests() == {"wake", "cancel"}
    finally:
        claim.release()


def test_a_run_claimed_with_no_mail_or_request_has_an_empty_first_look(claimed: Claim) -> None:
    assert claimed.inbox == []
    assert claimed.requested == frozenset()


def test_mail_with_a_key_already_posted_is_refused(store: Store, claimed: Claim) -> None:
    assert store.post(claimed.spec.id, mail("k", data=1))
    assert not store.post(claimed.spec.id, mail("k", data=2))
    assert [letter.data for letter in claimed.mail()] == [1]


def test_mail_posted_again_while_unread_queues_the_run_again(store: Store, claimed: Claim) -> None:
    """A poster that died between leaving the letter and queueing the run: the next one
    to post it queues the run (the lost wake-up a kill soak found)."""
    assert store.post(claimed.spec.id, mail("child-1"))
    claimed.set_ready(False)  # as if that first poster never queued it
    assert not store.post(claimed.spec.id, mail("child-1"))
    assert store.ready_runs() == [claimed.spec.id]
    assert len(claimed.mail()) == 1


def test_acked_mail_is_gone(store: Store, claimed: Claim) -> None:
    store.post(claimed.spec.id, mail("a"))
    store.post(claimed.spec.id, mail("b", sent=1))
    claimed.ack(claimed.mail()[0])
    assert [letter.key for letter in claimed.mail()] == ["b"]


def test_an_acked_reference_id_stays_refused(store: Store, claimed: Claim) -> None:
    assert store.post(claimed.spec.id, mail("ref-7", reference_id="7"))
    claimed.ack(claimed.mail()[0])
    assert claimed.mail() == []
    assert not store.post(claimed.spec.id, mail("ref-7", sent=5, reference_id="7"))
    assert claimed.mail() == []


def test_acked_mail_without_a_reference_id_may_come_again(store: Store, claimed: Claim) -> None:
    assert store.post(claimed.spec.id, mail("once"))
    claimed.ack(claimed.mail()[0])
    assert store.post(claimed.spec.id, mail("once", sent=5))
    assert [letter.sent_at for letter in claimed.mail()] == [at(5)]


def test_child_mail_carries_the_child(store: Store, claimed: Claim) -> None:
    child = Mail(key="child-c1", kind="child", sent_at=T0, child_id="c1")
    assert store.post(claimed.spec.id, child)
    assert claimed.mail() == [child]


def test_a_parked_run_leaves_the_queue_unless_mail_or_a_request_waits(
    store: Store, claimed: Claim
) -> None:
    run_id = claimed.spec.id
    store.post(run_id, mail("a"))  # queues the run
    claimed.leave_queue()
    assert store.ready_runs() == [run_id]
    claimed.ack(claimed.mail()[0])
    claimed.leave_queue()
    assert store.ready_runs() == []
    store.request(run_id, "wake")
    claimed.leave_queue()
    assert store.ready_runs() == [run_id]
    claimed.clear_request("wake")
    claimed.leave_queue()
    assert store.ready_runs() == []


def test_mail_for_an_unknown_run_is_not_found(store: Store) -> None:
    new_run(store)
    with pytest.raises(LookupError):
        store.post(new_run_id(T0, bytes(10)), mail("a"))


def test_posted_says_whether_mail_was_posted_without_writing(store: Store, claimed: Claim) -> None:
    run_id = claimed.spec.id
    assert not store.posted(run_id, "ref-7")
    assert store.post(run_id, mail("ref-7", reference_id="7"))
    assert store.post(run_id, mail("plain-1"))
    assert store.posted(run_id, "ref-7") and store.posted(run_id, "plain-1")  # unread
    claimed.set_ready(False)
    for letter in claimed.mail():
        claimed.ack(letter)
    assert store.posted(run_id, "ref-7")  # acknowledged: its reference id stays known
    assert not store.posted(run_id, "plain-1")  # no reference id: nothing to de-duplicate
    assert store.ready_runs() == []  # asking queued nothing
