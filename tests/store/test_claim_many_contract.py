"""`Store.claim_many`: a worker's claims of the runs it has room for, at once (one round
trip on a database), each as `claim` would have it, for every store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from aiki_cli.errors import InvalidRunId, RunDamaged, RunNotFound
from aiki_cli.model.entry import StatusChanged
from aiki_cli.model.status import RunStatus
from aiki_cli.store import Claim, Mail, Store
from aiki_cli.store.files import FileStore
from tests.store.test_contract import UNKNOWN, Specs, spec, store

__all__ = ["spec", "store"]  # the fixtures, shared with the contract suite

AT = datetime(2026, 1, 1, tzinfo=UTC)
RUNNING = StatusChanged(at=AT, old=RunStatus.PENDING, new=RunStatus.RUNNING)


def claims(taken: list[Claim | Exception | None]) -> list[Claim]:
    return [claim for claim in taken if claim is not None and not isinstance(claim, Exception)]


@pytest.mark.parametrize("queued_only", [False, True])
def test_each_run_is_claimed_as_alone_in_the_order_asked(
    store: Store, spec: Specs, queued_only: bool
) -> None:
    free, held, parked = (store.create_run(spec()).id for _ in range(3))
    holder = store.claim(held)
    parker = store.claim(parked)
    assert holder is not None and parker is not None
    parker.set_ready(False)
    parker.release()
    taken = store.claim_many([free, held, parked, "not-an-id", UNKNOWN], queued_only=queued_only)
    try:
        first, second, third, invalid, unknown = taken
        assert first is not None and not isinstance(first, Exception)
        assert first.spec.id == free and first.queued and first.entries == []
        assert second is None  # held elsewhere
        if queued_only:
            assert third is None and unknown is None  # not queued: not even looked at
        else:
            assert third is not None and not isinstance(third, Exception)
            assert not third.queued
            assert isinstance(unknown, RunNotFound) and unknown.run_id == UNKNOWN
        assert isinstance(invalid, InvalidRunId)
    finally:
        for claim in claims(taken):
            claim.release()
        holder.release()
    again = store.claim(free)  # released: nothing left held, nothing stacked
    assert again is not None
    again.release()


def test_a_claim_among_many_reads_the_journal_mail_and_requests_with_it(
    store: Store, spec: Specs
) -> None:
    quiet, busy = (store.create_run(spec()).id for _ in range(2))
    claim = store.claim(busy)
    assert claim is not None
    claim.append(RUNNING)
    claim.release()
    letter = Mail(key="k", kind="event", sent_at=AT, name="go")
    assert store.post(busy, letter)
    store.request(busy, "pause")
    taken = store.claim_many([quiet, busy])
    try:
        one, two = taken
        assert one is not None and two is not None
        assert not isinstance(one, Exception) and not isinstance(two, Exception)
        assert (one.entries, one.inbox, one.requested) == ([], [], frozenset())
        assert (two.entries, two.inbox, two.requested) == ([RUNNING], [letter], {"pause"})
    finally:
        for claim in claims(taken):
            claim.release()


def test_a_run_asked_twice_is_claimed_once(store: Store, spec: Specs) -> None:
    run_id = store.create_run(spec()).id
    first, second = store.claim_many([run_id, run_id])
    assert first is not None and not isinstance(first, Exception)
    assert second is None
    first.release()
    again = store.claim(run_id)  # one release let it go: no lock stacked behind it
    assert again is not None
    again.release()


def test_a_damaged_run_among_many_is_its_own_error_and_not_held(
    tmp_path: Path, spec: Specs
) -> None:
    files = FileStore(tmp_path / "runs")
    damaged, fine = (files.create_run(spec()).id for _ in range(2))
    journal = files.root / "run" / damaged / "journal.jsonl"
    journal.write_bytes(b"not an entry\n")
    hurt, ok = files.claim_many([damaged, fine])
    assert isinstance(hurt, RunDamaged) and hurt.run_id == damaged
    assert ok is not None and not isinstance(ok, Exception)
    ok.release()
    journal.write_bytes(b"")
    claim = files.claim(damaged)
    assert claim is not None
    claim.release()


def test_claims_released_together_are_each_let_go_once(store: Store, spec: Specs) -> None:
    """`release_many`: every run can be claimed again, each one taken out at release is
    out of the queue, and a claim released twice frees no later claim of its run."""
    ended, parked = (store.create_run(spec()).id for _ in range(2))
    taken = claims(store.claim_many([ended, parked]))
    assert len(taken) == 2
    taken[0].set_ready(False, at_release=True)
    store.release_many(taken)
    assert store.ready_runs() == [parked]
    later = store.claim(ended)
    assert later is not None
    store.release_many(taken)  # again: nothing
    assert store.claim(ended) is None  # the later claim still holds it
    later.release()
    again = claims(store.claim_many([ended, parked]))
    assert len(again) == 2
    store.release_many(again)
