"""A PostgreSQL claim holds appended entries and sends them with its next write: what the
journal shows before and after, that nothing the run does elsewhere gets ahead of it,
that a failed write loses nothing quietly, and that a group flush writes each run through
the session that holds its lock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from aiki_cli.errors import AikiError, StoreUnreachable
from aiki_cli.model.entry import Entry, TaskCompleted, TaskStarted, dump_entry
from aiki_cli.store import Mail
from aiki_cli.store.postgres.claim import PostgresClaim
from aiki_cli.store.postgres.store import PostgresStore
from tests.store.test_contract import Specs
from tests.store.test_postgres import RUNNING, T0, spec, sql, store, until

__all__ = ["spec", "store"]  # the fixtures


NOTE = "quotes ' \" and 100%s, %(x)s \\ $$ é\u2028 ;"  # sent as literals in one query


def steps(*numbers: int, note: str = "") -> list[Entry]:
    return [
        entry
        for n in numbers
        for entry in (
            TaskStarted(at=T0, task="t", hash=f"h{n}", input={"n": n, "note": note}),
            TaskCompleted(at=T0, task="t", hash=f"h{n}", output=n),
        )
    ]


def claimed(store: PostgresStore, spec: Specs) -> PostgresClaim:
    claim = store.claim(store.create_run(spec()).id)
    assert claim is not None
    return claim


def stored(store: PostgresStore, claim: PostgresClaim) -> list[Entry]:
    return store.read_run(claim.spec.id)[1]


def test_entries_are_held_until_the_flush_which_stores_them_as_the_claim_has_them(
    store: PostgresStore, spec: Specs
) -> None:
    claim = claimed(store, spec)
    claim.append(RUNNING, sync=False)
    assert claim.unsynced  # held, though not appended with `sync`
    claim.append(*steps(1, 2, note=NOTE))
    assert stored(store, claim) == []
    assert store.read_summary(claim.spec.id).status.value == "pending"
    claim.flush()
    assert not claim.unsynced
    assert stored(store, claim) == claim.entries == [RUNNING, *steps(1, 2, note=NOTE)]
    assert store.read_summary(claim.spec.id).status.value == "running"
    claim.append(*steps(3))
    claim.flush()
    assert stored(store, claim) == claim.entries
    claim.release()


WRITES: dict[str, Callable[[PostgresClaim], None]] = {
    "set_ready(False)": lambda claim: claim.set_ready(False),
    "set_ready(True)": lambda claim: claim.set_ready(True),
    "set_timer": lambda claim: claim.set_timer(T0 + timedelta(days=1)),
    "set_timer(None)": lambda claim: claim.set_timer(None),
    "clear_request": lambda claim: claim.clear_request("wake"),
    "ack": lambda claim: claim.ack(Mail(key="m", kind="event", sent_at=T0, name="n", data=1)),
    "leave_queue": lambda claim: claim.leave_queue(),
    "release": lambda claim: claim.release(),
}


@pytest.mark.parametrize("write", WRITES, ids=list(WRITES))
def test_every_other_write_sends_the_held_entries_first_in_its_own_transaction(
    store: PostgresStore, spec: Specs, monkeypatch: pytest.MonkeyPatch, write: str
) -> None:
    claim = claimed(store, spec)
    claim.append(RUNNING, *steps(1))
    sent: list[str] = []
    execute = psycopg.ClientCursor.execute

    def recorded(cursor: Any, query: Any, *args: Any, **kw: Any) -> Any:
        sent.append(str(query))
        return execute(cursor, query, *args, **kw)

    monkeypatch.setattr(psycopg.ClientCursor, "execute", recorded)
    WRITES[write](claim)
    monkeypatch.undo()
    assert len(sent) == 1, sent  # one query: one transaction, one round trip
    assert sent[0].index("synchronous_commit") < sent[0].index("INSERT INTO journal"), sent
    assert stored(store, claim) == [RUNNING, *steps(1)]
    assert not claim.unsynced
    claim.release()


def test_a_failed_flush_stores_none_of_the_batch_and_leaves_the_claim_unusable(
    store: PostgresStore, spec: Specs, postgres_url: str
) -> None:
    """No half batch: a row that cannot be stored takes the others back with it; the
    claim then refuses every call rather than go on without them."""
    claim = claimed(store, spec)
    claim.append(RUNNING)
    claim.flush()
    claim.append(*steps(1, 2))
    planted = steps(9)[0]
    sql(  # the third held entry's place is taken: its INSERT fails, and the batch with it
        postgres_url,
        "INSERT INTO journal (run_id, seq, line) VALUES (%s, 3, %s)",
        claim.spec.id,
        dump_entry(planted).decode(),
    )
    with pytest.raises(AikiError):
        claim.flush()
    assert stored(store, claim) == [RUNNING, planted]  # seq 1 and 2 were not stored
    assert claim.unsynced  # still held, never dropped
    for call in (claim.flush, lambda: claim.append(*steps(3)), lambda: claim.set_ready(False)):
        with pytest.raises(AikiError):
            call()
    with pytest.raises(AikiError):
        claim.release()  # the held entries were never stored: said again
    again = store.claim(claim.spec.id)  # its session, and lock, are gone
    assert again is not None and again.entries == [RUNNING, planted]
    again.release()


def test_a_group_flush_sends_each_claims_entries_on_its_own_connection(
    store: PostgresStore, spec: Specs, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = [claimed(store, spec) for _ in range(20)]
    for claim in held:
        claim.append(RUNNING, *steps(1))
    through: list[tuple[object, str]] = []
    execute = psycopg.ClientCursor.execute

    def recorded(cursor: Any, query: Any, *args: Any, **kw: Any) -> Any:
        through.append((cursor.connection, str(query)))
        return execute(cursor, query, *args, **kw)

    monkeypatch.setattr(psycopg.ClientCursor, "execute", recorded)
    assert store.flush_together(list(held))
    monkeypatch.undo()
    assert len(through) == len(held)
    for claim in held:
        (query,) = [query for conn, query in through if conn is claim._conn]
        assert claim.spec.id in query
        assert not any(other.spec.id in query for other in held if other is not claim)
        assert stored(store, claim) == claim.entries
        claim.release()


def test_a_group_flush_never_writes_a_run_taken_over_after_its_session_died(
    store: PostgresStore, spec: Specs, postgres_url: str
) -> None:
    held = [claimed(store, spec) for _ in range(3)]
    for claim in held:
        claim.append(RUNNING)
    dead = held[0]
    pid = dead._conn.info.backend_pid
    sql(postgres_url, "SELECT pg_terminate_backend(%s)", pid)
    successor = until(lambda: store.claim(dead.spec.id))
    assert not store.flush_together(held)
    with pytest.raises(StoreUnreachable):
        dead.flush()
    assert stored(store, dead) == []  # the successor's journal, untouched
    with pytest.raises(StoreUnreachable):
        dead.release()
    for claim in held[1:]:
        claim.flush()
        assert stored(store, claim) == [RUNNING]
        claim.release()
    successor.release()


def test_a_look_for_requests_stores_the_held_entries_and_the_next_flush_owes_the_wal(
    store: PostgresStore, spec: Specs, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine looks for requests at each task's boundary: the result held since the
    last task is committed with that look (asynchronously, no round trip of its own), so
    a worker killed before its next flush does not lose it; that flush then waits for
    the server's WAL."""
    claim = claimed(store, spec)
    claim.append(RUNNING, *steps(1))
    sent: list[str] = []
    execute = psycopg.ClientCursor.execute

    def recorded(cursor: Any, query: Any, *args: Any, **kw: Any) -> Any:
        sent.append(str(query))
        return execute(cursor, query, *args, **kw)

    monkeypatch.setattr(psycopg.ClientCursor, "execute", recorded)
    assert claim.requests() == frozenset()
    assert len(sent) == 1 and "synchronous_commit" not in sent[0], sent
    assert stored(store, claim) == [RUNNING, *steps(1)]
    assert claim.unsynced  # committed, not yet flushed to the server's disk
    sent.clear()
    claim.flush()
    assert len(sent) == 1 and "synchronous_commit" in sent[0], sent
    assert "pg_logical_emit_message" in sent[0], sent  # writes WAL, so waits for its flush
    assert not claim.unsynced
    monkeypatch.undo()
    claim.append(*steps(2))
    claim.requests()
    sql(postgres_url, "SELECT pg_terminate_backend(%s)", claim._conn.info.backend_pid)
    again = until(lambda: store.claim(claim.spec.id))  # its worker died after the look
    assert again.entries == [RUNNING, *steps(1, 2)]
    again.release()
    with pytest.raises(StoreUnreachable):
        claim.release()  # its flush of the WAL could not be made
