"""The claim session: every claim of a PostgreSQL store holds its run's advisory lock on
one shared connection (`store/postgres/claim_session.py`). What sharing must not change:
a run is claimed once (session locks stack), a broken session fails every claim on it and
only those, flushes go on beside the session, and calls from several threads take turns.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from aiki_cli.errors import AikiError, StoreUnreachable
from aiki_cli.model.entry import TaskStarted
from aiki_cli.store.postgres.claim_session import ClaimSession
from aiki_cli.store.postgres.store import PostgresStore
from tests.postgres_server import opened
from tests.store.test_contract import Specs
from tests.store.test_postgres import RUNNING, T0, held_locks, sql, until


@pytest.fixture
def store(postgres_url: str) -> Iterator[PostgresStore]:
    with opened(postgres_url) as store:
        assert isinstance(store, PostgresStore)
        yield store


@pytest.fixture
def spec() -> Specs:
    return Specs()


def started(n: int) -> TaskStarted:
    return TaskStarted(at=T0, task=f"t{n}", hash="h", input=n)


def journal(url: str, run_id: str) -> list[str]:
    rows = sql(url, "SELECT line FROM journal WHERE run_id = %s ORDER BY seq", run_id)
    return [line for (line,) in rows]


def test_many_claims_share_one_connection(store: PostgresStore, spec: Specs) -> None:
    claims = [store.claim(store.create_run(spec()).id) for _ in range(5)]
    assert len({id(claim.session) for claim in claims if claim is not None}) == 1
    for claim in claims:
        assert claim is not None
        claim.release()


def test_a_run_held_by_a_claim_of_the_session_is_refused_and_never_locked_twice(
    store: PostgresStore, spec: Specs, postgres_url: str
) -> None:
    """`pg_try_advisory_lock` succeeds on a key its session holds: the store refuses the
    second claim itself, so the run's one release frees it for every other worker."""
    run_id = store.create_run(spec()).id
    first = store.claim(run_id)
    assert first is not None
    assert store.claim(run_id) is None  # still held, here
    first.release()
    assert held_locks(postgres_url, first.session) == 0
    with opened(postgres_url) as other:
        taken = other.claim(run_id)
        assert taken is not None  # the one release let it go
        taken.release()
    again = store.claim(run_id)
    assert again is not None
    again.release()


def test_an_unlock_that_failed_on_a_healthy_session_is_made_before_the_next_claim(
    store: PostgresStore, spec: Specs, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = store.create_run(spec()).id
    claim = store.claim(run_id)
    assert claim is not None
    execute = psycopg.ClientCursor.execute

    def cancelled_once(cursor: Any, query: Any, *args: Any, **kw: Any) -> Any:
        if "pg_advisory_unlock" in str(query):
            monkeypatch.undo()
            raise psycopg.errors.QueryCanceled("canceling statement due to user request")
        return execute(cursor, query, *args, **kw)

    monkeypatch.setattr(psycopg.ClientCursor, "execute", cancelled_once)
    claim.release()  # raises nothing: the lock stays, to be let go later
    assert held_locks(postgres_url, claim.session) == 1
    again = store.claim(run_id)  # unlocks it first, then takes it once
    assert again is not None and again.session is claim.session
    again.release()
    assert held_locks(postgres_url, claim.session) == 0


def test_a_broken_session_leaves_every_claim_on_it_unwritable_and_the_next_claim_a_new_one(
    store: PostgresStore, spec: Specs, postgres_url: str
) -> None:
    runs = [store.create_run(spec()).id for _ in range(2)]
    claims = [store.claim(run_id) for run_id in runs]
    first, second = claims
    assert first is not None and second is not None
    first.append(RUNNING)
    second.append(RUNNING)
    old = first.session
    sql(postgres_url, "SELECT pg_terminate_backend(%s)", old.pid)
    with pytest.raises(StoreUnreachable):
        first.append(started(1))  # finds it broken
    with pytest.raises(StoreUnreachable):
        second.append(started(1))  # never reconnected under it
    with pytest.raises(StoreUnreachable):
        second.flush()
    for claim in (first, second):
        with pytest.raises(StoreUnreachable):
            claim.release()  # its appends were not flushed; its lock went with its session
    with opened(postgres_url) as other:  # their locks went with the session
        for run_id in runs:
            taken = until(lambda run_id=run_id: other.claim(run_id))
            taken.release()
    assert all(len(journal(postgres_url, run_id)) == 1 for run_id in runs)
    fresh = store.claim(runs[0])
    assert fresh is not None and fresh.session is not old and fresh.session.pid != old.pid
    fresh.append(started(1))
    fresh.release()
    assert len(journal(postgres_url, runs[0])) == 2


def test_a_statement_that_fails_on_a_healthy_session_fails_its_call_alone(
    store: PostgresStore, spec: Specs, postgres_url: str
) -> None:
    """Closing the session there would drop every other claim's lock while those claims
    think they hold it: two writers."""
    runs = [store.create_run(spec()).id for _ in range(2)]
    first, second = (store.claim(run_id) for run_id in runs)
    assert first is not None and second is not None
    first.append(RUNNING)
    first.entries.clear()  # its next append reuses sequence 0: the server refuses it
    with pytest.raises(AikiError, match="duplicate key"):
        first.append(started(1))
    with opened(postgres_url) as other:
        assert other.claim(runs[1]) is None  # still held by `second`
        assert other.claim(runs[0]) is None
    second.append(RUNNING)
    second.release()
    first.release()
    assert len(journal(postgres_url, runs[1])) == 1


def test_a_flush_is_made_beside_the_session_while_another_thread_uses_it(
    store: PostgresStore, spec: Specs, postgres_url: str
) -> None:
    claims = [store.claim(store.create_run(spec()).id) for _ in range(3)]
    held = [claim for claim in claims if claim is not None]
    for claim in held:
        claim.append(RUNNING)
    appended = sql(postgres_url, "SELECT pg_current_wal_insert_lsn()")[0][0]
    with held[0].session.using():  # the event loop, mid-statement on the session
        flushed: list[bool] = []
        flusher = threading.Thread(target=lambda: flushed.append(store.flush_together(held)))
        flusher.start()
        flusher.join(timeout=60)
        assert flushed == [True]  # done without the session
    assert sql(postgres_url, "SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn", appended) == [
        (True,)
    ]
    assert not any(claim.unsynced for claim in held)
    for claim in held:
        claim.release()


def test_a_flush_after_the_session_died_fails_its_claims_though_a_flush_connection_works(
    store: PostgresStore, spec: Specs, postgres_url: str
) -> None:
    """A server that restarted lost the appends it had not flushed; a flush on a fresh
    connection would succeed over nothing. The flush looks for the session's backend."""
    held = [store.claim(store.create_run(spec()).id) for _ in range(2)]
    for claim in held:
        assert claim is not None
        claim.append(RUNNING)
    session = held[0].session if held[0] is not None else None
    assert session is not None
    sql(postgres_url, "SELECT pg_terminate_backend(%s)", session.pid)
    until(lambda: not sql(postgres_url, "SELECT 1 FROM pg_locks WHERE pid = %s", session.pid))
    assert not store.flush_together([claim for claim in held if claim is not None])
    for claim in held:
        assert claim is not None
        with pytest.raises(StoreUnreachable):
            claim.flush()
        assert claim.unsynced
    assert session.broken  # found by the flush: every claim on it learns


def test_calls_from_several_threads_take_turns_on_the_session(
    store: PostgresStore, spec: Specs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every statement on the session is sent by the thread that holds it (`using`), so a
    call of several statements (`leave_queue`, a durable write) has no other thread's
    statement between them."""
    runs = [store.create_run(spec()).id for _ in range(2)]
    first, second = (store.claim(run_id) for run_id in runs)
    assert first is not None and second is not None
    session = first.session
    holder: list[int] = []  # the thread inside `using`, while one is
    strays: list[str] = []
    using, execute = ClaimSession.using, psycopg.Cursor.execute  # a client cursor's too

    @contextlib.contextmanager
    def held(self: ClaimSession) -> Iterator[Any]:
        with using(self) as conn:
            holder.append(threading.get_ident())
            try:
                yield conn
            finally:
                holder.pop()

    def watched(cursor: Any, query: Any, *args: Any, **kw: Any) -> Any:
        if cursor.connection is session._conn and holder != [threading.get_ident()]:
            strays.append(str(query))
        return execute(cursor, query, *args, **kw)

    monkeypatch.setattr(ClaimSession, "using", held)
    monkeypatch.setattr(psycopg.Cursor, "execute", watched)

    def appending() -> None:
        for n in range(300):
            second.append(started(n), sync=False)

    other = threading.Thread(target=appending)
    other.start()
    for _ in range(150):
        store.mark_ready(runs[0])
        first.leave_queue()
        first.set_ready(True)
    other.join(timeout=120)
    monkeypatch.undo()
    assert strays == []
    first.release()
    second.release()
