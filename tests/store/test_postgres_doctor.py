"""`aiki doctor` on the PostgreSQL store (`Store.examine`): rows damaged by hand are found,
each with how to fix it; `--repair` rebuilds what is derived (ready flags, the status
column, timers, orphaned rows, dead workers' registrations) and never a journal."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aiki_cli import Client, Run, RunStatus, Worker, workflow
from aiki_cli.store import Report, Store
from aiki_cli.store.postgres.connect import target
from tests.postgres_server import opened

nap = workflow(name="pg-doctor-nap")


@nap.v("1.0.0")
async def nap_v1(input: Any, run: Run) -> str:
    await run.sleep("nap", "1h")
    return "rested"


quick = workflow(name="pg-doctor-quick")


@quick.v("1.0.0")
async def quick_v1(input: Any, run: Run) -> Any:
    return input


parent = workflow(name="pg-doctor-parent")


@parent.v("1.0.0")
async def parent_v1(input: Any, run: Run) -> Any:
    child = await nap_v1.start(run, None)
    return await child.wait_for_completion()


@pytest.fixture
def url(postgres_url: str) -> str:
    return postgres_url


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    with opened(url) as store:
        yield store


@pytest.fixture
def sql(url: str) -> Iterator[Any]:
    """Run a statement in the store's schema, as a person at `psql` would."""
    with target(url).connect() as conn:
        yield lambda statement, *params: conn.execute(statement, params)


def started(store: Store, version: Any, *, work: bool = True) -> str:
    client = Client(store)
    run_id = client.create(version, {"n": 1}).id
    if work:
        asyncio.run(Worker(client, [nap, quick, parent]).run(until_idle=True))
    return run_id


def kinds(report: Report) -> list[str]:
    return [finding.kind for finding in report.findings]


def test_a_healthy_store_passes(store: Store) -> None:
    started(store, quick_v1)
    started(store, nap_v1)
    started(store, quick_v1, work=False)
    report = store.examine()
    assert (report.runs, report.busy, report.findings, report.healthy) == (3, [], [], True)


def test_a_run_a_worker_holds_is_busy_and_left_alone(store: Store, sql: Any) -> None:
    run_id = started(store, quick_v1, work=False)
    sql("UPDATE runs SET ready = false WHERE id = %s", run_id)
    claim = store.claim(run_id)
    assert claim is not None
    try:
        report = store.examine(repair=True)
    finally:
        claim.release()
    assert (report.busy, report.findings) == ([run_id], [])
    assert not store.is_ready(run_id)  # not touched while held


def test_a_pending_run_not_ready_is_found_and_repair_queues_it(store: Store, sql: Any) -> None:
    run_id = started(store, quick_v1, work=False)
    sql("UPDATE runs SET ready = false WHERE id = %s", run_id)
    found = store.examine()
    assert kinds(found) == ["not-queued"] and not found.healthy
    assert found.findings[0].run_id == run_id and found.findings[0].repairable
    assert store.examine(repair=True).findings[0].repaired
    assert store.ready_runs() == [run_id]
    asyncio.run(Worker(Client(store), [quick]).run(until_idle=True))
    assert store.read_summary(run_id).status == RunStatus.COMPLETED
    assert store.examine().healthy


def test_a_status_column_that_disagrees_with_the_journal_is_repaired(
    store: Store, sql: Any
) -> None:
    run_id = started(store, quick_v1)
    sql("UPDATE runs SET status = 'running' WHERE id = %s", run_id)
    assert kinds(store.examine()) == ["status-stale"]
    store.examine(repair=True)
    assert sql("SELECT status FROM runs WHERE id = %s", run_id).fetchone() == ("completed",)
    assert store.examine().healthy


def test_a_sleeping_run_without_its_timer_gets_it_back(store: Store, sql: Any) -> None:
    run_id = started(store, nap_v1)
    due = store.read_summary(run_id).due_at
    assert due is not None
    sql("DELETE FROM timers WHERE target = %s", run_id)
    report = store.examine()
    assert kinds(report) == ["timer-missing"] and "it would not wake" in report.findings[0].problem
    store.examine(repair=True)
    assert [(t.due, t.kind, t.target) for t in store.due_timers(due)] == [(due, "run", run_id)]
    assert store.examine().healthy


def test_a_timer_left_on_an_ended_run_is_removed(store: Store, sql: Any) -> None:
    run_id = started(store, quick_v1)
    sql("INSERT INTO timers (kind, target, due) VALUES ('run', %s, now())", run_id)
    report = store.examine()
    assert kinds(report) == ["stale-timer"] and not report.healthy
    store.examine(repair=True)
    assert store.next_due() is None


def test_a_journal_line_that_is_no_entry_is_left_for_a_person(store: Store, sql: Any) -> None:
    run_id = started(store, quick_v1)
    lines = sql("SELECT line FROM journal WHERE run_id = %s ORDER BY seq", run_id).fetchall()
    sql("UPDATE journal SET line = 'garbage' WHERE run_id = %s AND seq = 1", run_id)
    report = store.examine(repair=True)
    [finding] = report.findings
    assert (finding.kind, finding.repairable, report.healthy) == ("journal-damaged", False, False)
    assert "line 2" in finding.problem
    assert f"DELETE FROM {store.schema}.journal WHERE run_id = '{run_id}' AND seq >= 1" in (  # type: ignore[attr-defined]
        finding.fix
    )
    after = sql("SELECT line FROM journal WHERE run_id = %s ORDER BY seq", run_id).fetchall()
    assert len(after) == len(lines) and after[1] == ("garbage",)  # not changed


def test_a_gap_in_a_journal_is_damage(store: Store, sql: Any) -> None:
    run_id = started(store, nap_v1)
    assert sql("SELECT count(*) FROM journal WHERE run_id = %s", run_id).fetchone()[0] > 2
    sql("DELETE FROM journal WHERE run_id = %s AND seq = 1", run_id)
    [finding] = store.examine().findings
    assert (finding.kind, finding.run_id) == ("journal-damaged", run_id)
    assert "skips seq 1" in finding.problem


def test_status_changes_that_do_not_follow_are_damage(store: Store, sql: Any) -> None:
    run_id = started(store, quick_v1)
    first = sql("SELECT line FROM journal WHERE run_id = %s AND seq = 0", run_id).fetchone()[0]
    last = sql("SELECT max(seq) FROM journal WHERE run_id = %s", run_id).fetchone()[0]
    sql("INSERT INTO journal (run_id, seq, line) VALUES (%s, %s, %s)", run_id, last + 1, first)
    [finding] = store.examine().findings
    assert finding.kind == "journal-damaged"
    assert "changes the status from pending to running, but the run was completed" in (
        finding.problem
    )


def test_an_unreadable_start_record_is_damage(store: Store, sql: Any) -> None:
    run_id = started(store, quick_v1)
    sql("UPDATE runs SET spec = '{' WHERE id = %s", run_id)
    [finding] = store.examine(repair=True).findings
    assert (finding.kind, finding.repaired, finding.path) == (
        "run-unreadable",
        False,
        f"{store.schema}.runs",  # type: ignore[attr-defined]
    )


def test_unreadable_mail_is_damage(store: Store, sql: Any) -> None:
    run_id = started(store, nap_v1)
    sql("INSERT INTO mail (run_id, key, letter) VALUES (%s, 'bad', 'not json')", run_id)
    sql("UPDATE runs SET ready = true WHERE id = %s", run_id)  # as a poster leaves it
    assert kinds(store.examine()) == ["mail-unreadable"]


def test_orphaned_rows_are_found_and_removed(store: Store, sql: Any) -> None:
    run_id = started(store, quick_v1)
    ghost = "01m8aaaaaaaaaaaaaaaaaaaaaa"
    sql("SET session_replication_role = replica")  # past the foreign keys, as a bad restore
    sql("INSERT INTO mail (run_id, key, letter) VALUES (%s, 'k', '{}')", ghost)
    sql("INSERT INTO requests (run_id, kind) VALUES (%s, 'cancel')", ghost)
    sql("INSERT INTO timers (kind, target, due) VALUES ('run', %s, now())", ghost)
    sql("INSERT INTO timers (kind, target, due) VALUES ('schedule', 'gone', now())")
    sql("INSERT INTO journal (run_id, seq, line) VALUES (%s, 0, '{}')", ghost)
    sql("SET session_replication_role = DEFAULT")
    report = store.examine()
    assert kinds(report) == [
        "run-unreadable",
        "orphan-rows",
        "orphan-rows",
        "orphan-timer",
        "orphan-timer",
    ]
    assert [f.repairable for f in report.findings] == [False, True, True, True, True]
    repaired = store.examine(repair=True)
    assert [f.kind for f in repaired.remaining] == ["run-unreadable"]  # a person decides
    assert store.examine().findings == repaired.remaining
    assert sql("SELECT count(*) FROM timers").fetchone() == (0,)
    assert store.read_summary(run_id).status == RunStatus.COMPLETED


def test_a_dead_workers_registration_is_a_note_repair_removes(store: Store, sql: Any) -> None:
    sql("INSERT INTO workers (id, info, lock_hi, lock_lo) VALUES ('gone-1', '{}', 1, 2)")
    with store.register_worker("alive-1", {"id": "alive-1"}):
        report = store.examine()
        assert kinds(report) == ["worker-gone"] and report.healthy  # a note, not damage
        assert "gone-1" in report.findings[0].problem
        store.examine(repair=True)
        ids = [row[0] for row in sql("SELECT id FROM workers ORDER BY id").fetchall()]
        assert ids == ["alive-1"]  # the live worker's registration is kept


def test_an_active_schedule_without_a_timer_is_rearmed(store: Store, sql: Any) -> None:
    client = Client(store)
    now = datetime.now(UTC)
    asyncio.run(client.add_schedule(quick_v1, {"n": 1}, every="1h", schedule_id="hourly"))
    sql("DELETE FROM timers WHERE kind = 'schedule'")
    assert kinds(store.examine()) == ["timer-missing"]
    store.examine(repair=True)
    [timer] = store.due_timers(now + timedelta(hours=2))
    assert (timer.kind, timer.target) == ("schedule", "hourly")
    assert store.examine().healthy


def test_a_parent_that_never_heard_its_child_end_is_queued(store: Store, sql: Any) -> None:
    client = Client(store)
    parent_id = started(store, parent_v1)
    assert store.read_summary(parent_id).status == RunStatus.AWAITING_CHILD
    [child_id] = store.read_summary(parent_id).children
    asyncio.run(client.wake(child_id))
    asyncio.run(Worker(client, [nap]).run(until_idle=True))  # the child ends, tells its parent
    assert store.read_summary(child_id).status == RunStatus.COMPLETED
    sql("DELETE FROM mail WHERE run_id = %s", parent_id)  # as if that word were lost
    sql("UPDATE runs SET ready = false WHERE id = %s", parent_id)
    [finding] = store.examine().findings
    assert (finding.kind, finding.run_id) == ("parent-stranded", parent_id)
    assert f"{child_id} ended unheard" in finding.problem
    store.examine(repair=True)
    assert store.is_ready(parent_id)
