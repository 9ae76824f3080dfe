"""What only the PostgreSQL store does: claims that die with their session, byte-identical
journal lines, its schema's version, wake-ups, indexes, and coming back after the server
dropped its connections. The contract itself is in test_contract*.py."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aiki_cli.errors import RunDamaged, SchemaNotReady, StoreUnreachable, StoreUnwritable
from aiki_cli.model.entry import StatusChanged, TaskCompleted, TaskStarted
from aiki_cli.model.status import RunStatus
from aiki_cli.store import Mail
from aiki_cli.store.files import FileStore
from aiki_cli.store.postgres.claim import PostgresClaim
from aiki_cli.store.postgres.claim_session import ClaimSession
from aiki_cli.store.postgres.connect import target
from aiki_cli.store.postgres.keys import halves
from aiki_cli.store.postgres.schema import VERSION, migrate
from aiki_cli.store.postgres.store import PostgresStore
from aiki_cli.values.canonical import input_hash
from tests.postgres_server import opened, with_schema
from tests.store.test_contract import Specs

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RUNNING = StatusChanged(at=T0, old=RunStatus.PENDING, new=RunStatus.RUNNING)
STARTED = TaskStarted(at=T0, task="a", hash="h", input=None, attempt=1)
# A table's foreign keys, by name (the table's name as the parameter).
_FOREIGN_KEYS = (
    "SELECT conname FROM pg_constraint WHERE contype = 'f'"
    " AND conrelid = (current_schema() || '.' || %s)::regclass"
)


@pytest.fixture
def store(postgres_url: str) -> Iterator[PostgresStore]:
    with opened(postgres_url) as store:
        assert isinstance(store, PostgresStore)
        yield store


@pytest.fixture
def spec() -> Specs:
    return Specs()


def sql(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run `query` in the URL's schema on a connection of its own."""
    with target(url).connect() as conn:
        cursor = conn.execute(query, params or None)
        return cursor.fetchall() if cursor.description else []


def held_locks(url: str, session: ClaimSession) -> int:
    """How many runs' advisory locks the claim session holds (a lock taken twice counts
    once; its own token, held while it lives, not at all)."""
    high, low = halves(session.token)
    return int(
        sql(
            url,
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = %s"
            " AND NOT (classid = %s AND objid = %s)",
            session.pid,
            high,
            low,
        )[0][0]
    )


def until(found: Any, *, limit: float = 30.0) -> Any:
    """Call `found` until it returns something truthy; fail after `limit` seconds."""
    deadline = time.monotonic() + limit
    while not (value := found()):
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.02)
    return value


HOLDER = """
import sys, time
from aiki_cli.store import open_store
store = open_store(sys.argv[1])
claim = store.claim(sys.argv[2])
assert claim is not None
print("held", flush=True)
time.sleep(600)
"""


def test_a_killed_holders_claim_is_free_at_once_with_no_lease(
    store: PostgresStore, spec: Specs, postgres_url: str
) -> None:
    run_id = store.create_run(spec()).id
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, postgres_url, run_id],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert store.claim(run_id) is None  # held by the other process's session
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        taken = until(lambda: store.claim(run_id))  # the server ends the dead session
        taken.append(RUNNING)
        taken.release()
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    assert store.read_run(run_id)[1] == [RUNNING]


def test_a_claim_whose_session_is_gone_cannot_write(
    store: PostgresStore, spec: Specs, postgres_url: str
) -> None:
    run_id = store.create_run(spec()).id
    stale = store.claim(run_id)
    assert stale is not None
    pid = stale.session.pid
    sql(postgres_url, "SELECT pg_terminate_backend(%s)", pid)
    with opened(postgres_url) as other:
        successor = until(lambda: other.claim(run_id))
        successor.append(RUNNING)
        with pytest.raises(StoreUnwritable) as caught:
            stale.append(StatusChanged(at=T0, old=RunStatus.RUNNING, new=RunStatus.COMPLETED))
        assert isinstance(caught.value, StoreUnreachable)
        assert caught.value.exit_code == 1
        stale.release()  # its lock went with its session: nothing to let go, no error
        assert store.claim(run_id) is None  # the successor still holds it
        successor.release()
    assert store.read_run(run_id)[1] == [RUNNING]


def test_journal_lines_are_byte_for_byte_the_file_stores(
    store: PostgresStore, spec: Specs, tmp_path: Path, postgres_url: str
) -> None:
    note = "é\u2028 two\nlines, \\n and a tab\t"  # appended as one text, a newline between lines
    digest = input_hash({"amount": 3, "note": note})
    entries = [
        RUNNING,
        TaskStarted(at=T0, task="charge", hash=digest, input={"amount": 3, "note": note}),
        TaskCompleted(at=T0, task="charge", hash=digest, output={"paid": [1.5, None, "ü"]}),
    ]
    files = FileStore(tmp_path / "runs")
    made = spec()
    for one in (files, store):
        one.create_run(made)
        claim = one.claim(made.id)
        assert claim is not None
        claim.append(*entries)
        claim.release()
    journal = (tmp_path / "runs" / "run" / made.id / "journal.jsonl").read_bytes()
    rows = sql(postgres_url, "SELECT line FROM journal WHERE run_id = %s ORDER BY seq", made.id)
    assert "".join(line + "\n" for (line,) in rows).encode() == journal
    spec_text = sql(postgres_url, "SELECT spec FROM runs WHERE id = %s", made.id)[0][0]
    assert spec_text.encode() == (tmp_path / "runs" / "run" / made.id / "run.json").read_bytes()


def test_claims_flushed_together_are_made_durable_by_one_synchronous_commit(
    store: PostgresStore, spec: Specs, postgres_url: str
) -> None:
    claims = [store.claim(store.create_run(spec()).id) for _ in range(3)]
    held = [claim for claim in claims if claim is not None]
    for claim in held:
        claim.append(RUNNING)
    assert all(claim.unsynced for claim in held)
    # The appends committed without waiting for the disk (the test server's WAL writer
    # flushes only every 10 s): where the WAL ends now is past their commits.
    appended = sql(postgres_url, "SELECT pg_current_wal_insert_lsn()")[0][0]
    assert store.flush_together(held)
    assert not any(claim.unsynced for claim in held)
    flushed = sql(postgres_url, "SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn", appended)
    assert flushed == [(True,)]  # one synchronous commit flushed the WAL past them all
    for claim in held:
        claim.release()


@pytest.mark.parametrize(
    "write", ["set_timer", "set_ready", "leave_queue", "clear_request", "start_flushed"]
)
def test_a_write_outside_the_journal_flushes_the_appends_before_it(
    store: PostgresStore, spec: Specs, postgres_url: str, write: str
) -> None:
    """Nothing the run does elsewhere gets ahead of its journal: such a write commits
    synchronously (a setting of its query's own transaction), which flushes the WAL
    past the appends before it; so does a lone run's step, its start journaled with a
    flush, on the session itself."""
    claim = store.claim(store.create_run(spec()).id)
    assert claim is not None
    claim.append(RUNNING)
    appended = sql(postgres_url, "SELECT pg_current_wal_insert_lsn()")[0][0]
    writes = {
        "set_timer": lambda: claim.set_timer(T0),
        "set_ready": lambda: claim.set_ready(True),
        "leave_queue": claim.leave_queue,
        "clear_request": lambda: claim.clear_request("wake"),
        "start_flushed": lambda: claim.append_unless(("cancel",), STARTED, flush=True),
    }
    writes[write]()
    flushed = sql(postgres_url, "SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn", appended)
    assert flushed == [(True,)]
    assert not claim.unsynced
    claim.release()


def test_a_run_s_end_sets_the_status_column_only_when_journaled(
    store: PostgresStore, spec: Specs, postgres_url: str
) -> None:
    """The status column (`list` filters on it) changes in the statement that appends
    the end, and not when a cancel found instead kept the end out of the journal."""
    run_id = store.create_run(spec()).id
    claim = store.claim(run_id)
    assert claim is not None
    claim.append(RUNNING)
    store.request(run_id, "cancel")
    done = StatusChanged(at=T0, old=RunStatus.RUNNING, new=RunStatus.COMPLETED, result=1)
    column = "SELECT status FROM runs WHERE id = %s"
    assert claim.append_unless(("cancel",), done, sync=True) == {"cancel"}
    assert sql(postgres_url, column, run_id) == [("running",)]
    claim.clear_request("cancel")
    assert claim.append_unless(("cancel",), done, sync=True) == frozenset()
    assert sql(postgres_url, column, run_id) == [("completed",)]
    claim.release()


def test_an_ended_run_leaves_the_queue_in_its_release_s_query(
    store: PostgresStore, spec: Specs, postgres_url: str
) -> None:
    """No round trip of its own: the run is still queued until the claim is released,
    and then out, its lock let go. With appends waiting for a flush, it is a write of
    its own, synchronous, as before."""
    run_id = store.create_run(spec()).id
    claim = store.claim(run_id)
    assert claim is not None
    claim.set_ready(False, at_release=True)
    assert store.is_ready(run_id)  # nothing sent yet
    claim.release()
    assert not store.is_ready(run_id)
    assert held_locks(postgres_url, claim.session) == 0
    store.mark_ready(run_id)
    claim = store.claim(run_id)
    assert claim is not None
    claim.append(RUNNING)  # waits for a flush
    claim.set_ready(False, at_release=True)
    assert not store.is_ready(run_id) and not claim.unsynced
    claim.release()


@contextlib.contextmanager
def journal_away(url: str) -> Iterator[None]:
    """The journal table renamed for the block: a claim's reads then fail, after its
    locks were taken."""
    sql(url, "ALTER TABLE journal RENAME TO journal_away")
    try:
        yield
    finally:
        sql(url, "ALTER TABLE journal_away RENAME TO journal")


def test_a_claim_whose_read_failed_keeps_no_lock(
    store: PostgresStore, spec: Specs, postgres_url: str
) -> None:
    """The lock and the read go in one query: when the read fails after the lock was
    taken, the lock must not stay behind on a connection kept for the next claim."""
    run_id = store.create_run(spec()).id
    session = store.sessions.current()
    with pytest.raises(SchemaNotReady), journal_away(postgres_url):
        store.claim(run_id)
    with opened(postgres_url) as other:
        claim = other.claim(run_id)
        assert claim is not None  # no session of `store` holds it
        claim.release()
    claim = store.claim(run_id)  # the session that failed the read is healthy, and kept
    assert claim is not None and claim.session is session
    assert held_locks(postgres_url, session) == 1
    claim.release()
    assert held_locks(postgres_url, session) == 0  # none stacked behind it


def test_claims_of_many_whose_read_failed_keep_no_lock(
    store: PostgresStore, spec: Specs, postgres_url: str
) -> None:
    """As a lone claim's: the locks and the reads go in one query, and when it fails,
    whatever it may have locked is let go, the healthy session kept."""
    run_ids = [store.create_run(spec()).id for _ in range(3)]
    session = store.sessions.current()
    with pytest.raises(SchemaNotReady), journal_away(postgres_url):
        store.claim_many(run_ids)
    assert held_locks(postgres_url, session) == 0
    taken = store.claim_many(run_ids)
    assert store.sessions.current() is session
    assert held_locks(postgres_url, session) == 3
    for claim in taken:
        assert isinstance(claim, PostgresClaim)
        claim.release()
    assert held_locks(postgres_url, session) == 0


def test_claims_released_together_go_in_one_query(
    store: PostgresStore, spec: Specs, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    taken = store.claim_many([store.create_run(spec()).id for _ in range(3)])
    held = [claim for claim in taken if isinstance(claim, PostgresClaim)]
    assert len(held) == 3
    for claim in held[:2]:
        claim.set_ready(False, at_release=True)
    sent: list[str] = []
    send = psycopg.ClientCursor.execute

    def recorded(cursor: Any, query: Any, *args: Any, **kw: Any) -> Any:
        sent.append(str(query))
        return send(cursor, query, *args, **kw)

    monkeypatch.setattr(psycopg.ClientCursor, "execute", recorded)
    store.release_many(held)
    monkeypatch.undo()
    assert len(sent) == 1 and "pg_advisory_unlock" in sent[0], sent
    assert held_locks(postgres_url, held[0].session) == 0
    assert store.ready_runs() == [held[2].spec.id]  # the two taken out at release, alone


def test_a_damaged_run_among_many_claimed_is_let_go(
    store: PostgresStore, spec: Specs, postgres_url: str
) -> None:
    damaged, fine = (store.create_run(spec()).id for _ in range(2))
    sql(postgres_url, "INSERT INTO journal (run_id, seq, line) VALUES (%s, 0, 'no entry')", damaged)
    hurt, ok = store.claim_many([damaged, fine])
    assert isinstance(hurt, RunDamaged) and "line 1" in hurt.message
    assert isinstance(ok, PostgresClaim)
    assert held_locks(postgres_url, ok.session) == 1  # the damaged run's lock went
    ok.release()


def test_out_of_the_queue_waits_for_the_disk_only_when_appends_wait_for_a_flush(
    store: PostgresStore, spec: Specs, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Taking a run out of the queue flushes appends not yet flushed (nothing outside the
    journal gets ahead of it); with none, it commits without waiting for the disk."""
    import psycopg

    sent: list[str] = []
    execute = psycopg.Cursor.execute  # every cursor's, a client cursor's too

    def recorded(cursor: Any, query: Any, *args: Any, **kw: Any) -> Any:
        if cursor.connection is claim.session._conn:
            sent.append(str(query))
        return execute(cursor, query, *args, **kw)

    run_id = store.create_run(spec()).id
    claim = store.claim(run_id)
    assert claim is not None
    monkeypatch.setattr(psycopg.Cursor, "execute", recorded)
    for leave in (lambda: claim.set_ready(False), claim.leave_queue):
        store.mark_ready(run_id)
        claim.append(RUNNING)  # waits for a flush
        sent.clear()
        leave()
        assert any("synchronous_commit" in query for query in sent), sent
        assert not claim.unsynced
        assert not store.is_ready(run_id)
        store.mark_ready(run_id)
        sent.clear()
        leave()  # nothing waits: committed, not flushed
        assert sent and not any("synchronous_commit" in query for query in sent), sent
        assert not store.is_ready(run_id)
    monkeypatch.undo()
    claim.release()


REGISTERED = """
import sys, time
from aiki_cli.store import open_store
store = open_store(sys.argv[1])
with store.register_worker("w-dying", {"id": "w-dying"}):
    print("registered", flush=True)
    time.sleep(600)
"""


def test_a_dead_workers_registration_is_not_live(store: PostgresStore, postgres_url: str) -> None:
    worker = subprocess.Popen(
        [sys.executable, "-c", REGISTERED, postgres_url],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert worker.stdout is not None and worker.stdout.readline() == "registered\n"
        assert store.live_workers() == [{"id": "w-dying"}]
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        until(lambda: store.live_workers() == [])  # the server ended its session
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        if worker.stdout is not None:
            worker.stdout.close()
    with store.register_worker("w-dying", {"id": "w-dying", "again": True}):
        assert store.live_workers() == [{"id": "w-dying", "again": True}]


def _registration_pid(url: str, worker_id: str) -> int | None:
    """The server process holding the worker's registration lock, if any."""
    rows = sql(
        url,
        "SELECT l.pid FROM pg_locks l JOIN workers w ON l.classid = w.lock_hi::oid"
        " AND l.objid = w.lock_lo::oid WHERE l.locktype = 'advisory' AND l.granted"
        " AND w.id = %s",
        worker_id,
    )
    return rows[0][0] if rows else None


def test_a_living_worker_is_registered_again_after_the_server_dropped_it(
    store: PostgresStore, postgres_url: str
) -> None:
    with store.register_worker("w-living", {"id": "w-living"}):
        first = _registration_pid(postgres_url, "w-living")
        assert first is not None
        sql(postgres_url, "SELECT pg_terminate_backend(%s)", first)  # as a restart does
        again = until(lambda: _registration_pid(postgres_url, "w-living") not in (None, first))
        assert again != first
        assert store.live_workers() == [{"id": "w-living"}]
    assert store.live_workers() == []  # signing off removes the new registration


def test_two_schemas_in_one_database_do_not_see_or_block_each_other(
    postgres_url: str, postgres_server: str, spec: Specs
) -> None:
    from tests.postgres_server import fresh_schema

    made = spec()
    with (
        fresh_schema(postgres_server) as other_url,
        opened(postgres_url) as one,
        opened(other_url) as other,
    ):
        one.create_run(made)
        assert list(other.list_runs()) == []
        other.create_run(made)
        claims = [one.claim(made.id), other.claim(made.id)]
        assert None not in claims  # the same run id, locked per schema
        for claim in claims:
            assert claim is not None
            claim.release()


def test_a_store_comes_back_after_the_server_dropped_its_connections(
    spec: Specs, postgres_url: str
) -> None:
    name = f"aiki_t_{secrets.token_hex(4)}"
    with opened(f"{postgres_url}&application_name={name}") as store:
        first = store.create_run(spec()).id
        for _ in range(2):  # a claim released leaves its connection idle, for the next one
            claim = store.claim(first)
            assert claim is not None
            claim.release()
        sql(
            postgres_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            f" WHERE application_name = '{name}'",
        )
        with pytest.raises(StoreUnreachable, match="cannot reach PostgreSQL database"):
            store.read_run(first)
        assert store.read_run(first)[0].id == first  # connected anew
        claim = store.claim(first)  # on a new connection too, not the dead idle one
        assert claim is not None
        claim.release()


def test_an_older_or_newer_schema_is_refused_in_one_line(postgres_url: str) -> None:
    for version, words in ((VERSION - 1, "aiki db migrate"), (VERSION + 1, "upgrade aiki")):
        sql(postgres_url, "UPDATE schema_version SET version = %s", version)
        with opened(postgres_url) as store, pytest.raises(SchemaNotReady, match=words) as caught:
            store.ready_runs()
        assert "\n" not in str(caught.value)
        assert caught.value.exit_code == 1


def test_a_schema_made_by_an_older_aiki_is_upgraded_with_its_runs_kept(
    store: PostgresStore, spec: Specs, postgres_url: str
) -> None:
    run_id = store.create_run(spec()).id
    # Version 1 as the first aiki made it: a journal whose lines point at their run.
    sql(
        postgres_url,
        "ALTER TABLE journal ADD CONSTRAINT journal_run_id_fkey FOREIGN KEY (run_id)"
        " REFERENCES runs ON DELETE CASCADE; UPDATE schema_version SET version = 1",
    )
    with opened(postgres_url) as older, pytest.raises(SchemaNotReady):
        older.ready_runs()
    assert migrate(target(postgres_url)) == (1, VERSION)
    assert sql(postgres_url, _FOREIGN_KEYS, "journal") == []
    with opened(postgres_url) as upgraded:
        claim = upgraded.claim(run_id)
        assert claim is not None
        claim.append(RUNNING)
        claim.release()
        assert upgraded.read_run(run_id)[1] == [RUNNING]


def test_a_removed_run_leaves_no_row_behind(
    store: PostgresStore, spec: Specs, postgres_url: str
) -> None:
    run_id = store.create_run(spec()).id
    claim = store.claim(run_id)
    assert claim is not None
    claim.append(RUNNING, StatusChanged(at=T0, old=RunStatus.RUNNING, new=RunStatus.COMPLETED))
    claim.release()
    store.post(run_id, Mail(key="k", kind="event", sent_at=T0, name="late"))
    store.request(run_id, "cancel")
    store.remove_run(run_id)
    for table in ("journal", "mail", "requests"):
        assert sql(postgres_url, f"SELECT count(*) FROM {table} WHERE run_id = %s", run_id) == [
            (0,)
        ]


def test_watchers_hear_of_runs_queued_and_timers_set_by_other_processes(
    store: PostgresStore, spec: Specs, postgres_url: str
) -> None:
    heard = threading.Event()
    with opened(postgres_url) as other, store.watch(heard.set):
        until(lambda: _heard_after(heard, lambda: other.create_run(spec())), limit=30)
        claim = other.claim(other.ready_runs()[0])
        assert claim is not None
        claim.set_ready(False)
        heard.clear()
        claim.set_timer(T0)
        assert heard.wait(30)
        heard.clear()
        other.post(claim.spec.id, Mail(key="k", kind="event", sent_at=T0, name="go"))
        assert heard.wait(30)  # the letter queued the run again
        claim.release()


def test_a_watcher_wakes_on_a_notification_and_stops_at_once_without_polling(
    store: PostgresStore, spec: Specs, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The listening thread blocks on its socket: a notification wakes it when it arrives,
    and stopping wakes it too. (It once polled every 0.5 s and handed over what it heard
    only at the end of each poll; with an hour's poll, this would hang.)"""
    from aiki_cli.store.postgres import notify

    monkeypatch.setattr(notify, "_CHECK_STOP", 3600.0, raising=False)
    heard = threading.Event()
    watching = store.watch(heard.set)
    watching.__enter__()
    stopper = threading.Thread(target=watching.__exit__, args=(None, None, None))
    try:
        until(lambda: _heard_after(heard, lambda: store.create_run(spec())), limit=30)
        heard.clear()
        store.create_run(spec())
        assert heard.wait(30)  # on the notification, not at the end of a poll
    finally:
        stopper.start()
        stopper.join(30)
    assert not stopper.is_alive()  # stopped when told, not at a poll


def _heard_after(heard: threading.Event, act: Any) -> bool:
    """Act, then whether the watcher heard of it (the listener may still be connecting:
    a wake-up is sent when it starts listening, which this clears first)."""
    heard.clear()
    act()
    return heard.wait(2)


QUERIES = {
    "ready_runs": "SELECT id FROM runs WHERE ready ORDER BY id",
    "list_runs": "SELECT seq, id FROM runs WHERE seq < 100 ORDER BY seq DESC LIMIT 500",
    "key": "SELECT id FROM runs WHERE workflow = 'a' AND idempotency_key = 'k'",
    "read_run": "SELECT line FROM journal WHERE run_id = 'x' ORDER BY seq",
    "due_timers": "SELECT target FROM timers WHERE due <= now() ORDER BY due",
    "mail": "SELECT letter FROM mail WHERE run_id = 'x' AND NOT acked",
}


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_each_lookup_has_an_index_and_no_query_must_scan_every_run(
    postgres_url: str, name: str
) -> None:
    with target(postgres_url).connect() as conn:
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(row[0] for row in conn.execute(f"EXPLAIN {QUERIES[name]}").fetchall())
    assert "Seq Scan" not in plan, plan
    assert "Index" in plan, plan


def test_a_url_names_the_schema_by_schema_or_search_path(postgres_server: str) -> None:
    assert target(postgres_server).schema == "aiki"
    assert target(with_schema(postgres_server, "team_a")).schema == "team_a"
    by_options = f"{postgres_server}&options=-csearch_path%3Dteam_b"
    assert target(by_options).schema == "team_b"
    shown = target("postgresql://ann:hunter2@db.example:5433/orders?schema=team_a")
    assert shown.location == "postgresql://ann@db.example:5433/orders?schema=team_a"
    assert shown.server == "database 'orders' on db.example:5433"


def test_a_batch_of_starts_is_stored_whole_or_not_at_all(store: PostgresStore, spec: Specs) -> None:
    taken = store.create_run(spec())
    batch = [spec(), spec(), taken, spec()]  # one id is taken: the batch fails as a whole
    with pytest.raises(Exception, match="duplicate key"):
        store.create_runs(batch)
    assert [ref.id for ref in store.list_runs()] == [taken.id]
    store.create_runs([batch[0], batch[1]])
    assert store.ready_runs() == sorted([taken.id, batch[0].id, batch[1].id])
