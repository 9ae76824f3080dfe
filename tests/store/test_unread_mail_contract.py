"""The store contract of `unread_mail` (what the dashboard shows as a run's pending
mail), against every store of `test_contract`'s fixture."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aiki_cli.errors import RunNotFound
from aiki_cli.store import Mail, Store

from .test_contract import T0, Specs, spec, store

__all__ = ["spec", "store"]  # the fixtures, run here too


def letter(key: str, seconds: int, **fields: object) -> Mail:
    return Mail(key=key, kind="event", sent_at=T0 + timedelta(seconds=seconds), **fields)  # type: ignore[arg-type]


def test_a_run_without_mail_has_none_unread(store: Store, spec: Specs) -> None:
    run_id = store.create_run(spec()).id
    assert store.unread_mail(run_id) == []


def test_unread_mail_is_what_was_posted_in_the_order_sent(store: Store, spec: Specs) -> None:
    run_id = store.create_run(spec()).id
    late = letter("b-late", 20, name="second", data={"n": 2})
    early = letter("a-early", 10, name="first", data={"n": 1}, reference_id="r1")
    assert store.post(run_id, late) and store.post(run_id, early)

    assert store.unread_mail(run_id) == [early, late]


def test_mail_read_by_the_run_is_no_longer_unread(store: Store, spec: Specs) -> None:
    run_id = store.create_run(spec()).id
    kept, read = letter("kept", 1, name="kept"), letter("read", 2, name="read")
    store.post(run_id, kept)
    store.post(run_id, read)
    claim = store.claim(run_id)
    assert claim is not None
    try:
        claim.ack(read)
    finally:
        claim.release()

    assert store.unread_mail(run_id) == [kept]


def test_unread_mail_of_an_unknown_run(store: Store, spec: Specs) -> None:
    with pytest.raises(RunNotFound):
        store.unread_mail(spec().id)
