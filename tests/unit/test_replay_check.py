"""`replay --check` agrees with the engine: every case the engine's replay tests know.

Each test runs version A of a workflow until its worker "dies" (the run is left
`running`, as in `test_replay.py`), then checks the run against code B — counting task
bodies and reading the store to prove the check executed and wrote nothing — and then
lets a real worker take the run over with B. Whatever the engine then does (complete,
diverge, fail, park), the check said beforehand, with the engine's own message.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from aiki_cli import Client, MemoryStore, Run, Task, TaskFailed, Worker, task
from aiki_cli.authoring.workflow import WorkflowFn, WorkflowVersion
from aiki_cli.engine.execution import Engine
from aiki_cli.engine.replay_check import ReplayReport
from aiki_cli.model.runinfo import RunInfo
from aiki_cli.model.status import RunStatus
from aiki_cli.testing import Harness, ManualClock, replay_check
from aiki_cli.values.canonical import address


class Bench:
    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.client = Client(MemoryStore(), clock=clock)
        self.counts: Counter[str] = Counter()
        self.crash = task(name="crash", exec=self._crash)

    async def _crash(self, value: Any) -> None:
        """The worker process dies here: its execution is cancelled, and not by a worker."""
        self.counts["crash"] += 1
        execution = asyncio.current_task()
        assert execution is not None
        execution.cancel()
        await asyncio.Event().wait()

    def task(self, name: str, body: Callable[[Any], Any] | None = None) -> Task:
        async def run(value: Any) -> Any:
            self.counts[name] += 1
            return body(value) if body is not None else {"task": name, "input": value}

        return task(name=name, exec=run)

    def interrupt(self, code: WorkflowFn) -> str:
        """A run of `code`, executed until its worker dies."""
        version = WorkflowVersion("wf", "1.0.0", code)
        run_id = self.client.create(version, {"order": 1}).id
        claim = self.client.store.claim(run_id)
        assert claim is not None
        engine = Engine({version.ref: version}, self.client.store, clock=self.clock, worker_id="x")
        try:
            with pytest.raises(asyncio.CancelledError):
                asyncio.run(engine.execute(claim))
        finally:
            claim.release()
        return run_id

    def park(self, code: WorkflowFn) -> str:
        """A run of `code`, executed until it parks."""
        version = WorkflowVersion("wf", "1.0.0", code)
        run_id = self.client.create(version, {"order": 1}).id
        asyncio.run(Worker(self.client, [version], poll_interval=0.01).run(until_idle=True))
        assert self.info(run_id).status.parked
        return run_id

    def check(self, run_id: str, code: WorkflowFn) -> ReplayReport:
        """Check the run against `code`, proving nothing ran and nothing was written."""
        store = self.client.store
        counts, stored, ready = Counter(self.counts), store.read_run(run_id), store.ready_runs()
        version = WorkflowVersion("wf", "1.0.0", code)
        (report,) = asyncio.run(self.client.replay_check({version.ref: version}, [run_id]))
        assert self.counts == counts, "the check executed a task body"
        assert store.read_run(run_id) == stored, "the check wrote to the journal"
        assert (store.ready_runs(), store.requests(run_id)) == (ready, frozenset())
        return report

    def resume(self, run_id: str, code: WorkflowFn) -> RunInfo:
        version = WorkflowVersion("wf", "1.0.0", code)
        asyncio.run(Worker(self.client, [version], poll_interval=0.01).run(until_idle=True))
        return self.info(run_id)

    def info(self, run_id: str) -> RunInfo:
        return asyncio.run(self.client.get(run_id))


@pytest.fixture
def bench(clock: ManualClock) -> Bench:
    return Bench(clock)


def agree(bench: Bench, run_id: str, code: WorkflowFn) -> tuple[ReplayReport, RunInfo]:
    """The check of `code` on the run, then what the engine did with it."""
    report = bench.check(run_id, code)
    return report, bench.resume(run_id, code)


def assert_same_divergence(report: ReplayReport, info: RunInfo, new_task: str) -> None:
    assert info.status == RunStatus.FAILED and info.error is not None
    assert info.error.type == "DivergenceError"
    assert report.verdict == "diverges" and not report.ok
    assert report.error is not None
    assert (report.error.type, report.error.message) == (info.error.type, info.error.message)
    assert f"the code calls task {new_task!r}" in report.error.message


# -- safe ------------------------------------------------------------------------------


def test_a_safe_reorder_replays_and_stops_where_new_work_begins(bench: Bench) -> None:
    step, ship = bench.task("step"), bench.task("ship")

    async def a(input: Any, run: Run) -> None:
        await step.start(run, 1)
        await step.start(run, 2)
        await bench.crash.start(run)

    async def b(input: Any, run: Run) -> None:
        await step.start(run, 2)
        await step.start(run, 1)
        await ship.start(run, 3)

    report, info = agree(bench, bench.interrupt(a), b)

    assert (report.verdict, report.stopped, report.replayed) == (
        "replays",
        "task 'ship' would execute",
        2,
    )
    assert info.status == RunStatus.COMPLETED
    assert bench.counts == Counter(step=2, crash=1, ship=1), "ship ran once: by the engine"


def test_a_removed_call_replays_and_names_what_is_left_unasked(bench: Bench) -> None:
    charge, discount = bench.task("charge"), bench.task("discount")

    async def a(input: Any, run: Run) -> None:
        await charge.start(run, 10)
        await discount.start(run, 10)
        await bench.crash.start(run)

    async def b(input: Any, run: Run) -> str:
        await charge.start(run, 10)
        return "done"

    report, info = agree(bench, bench.interrupt(a), b)

    assert (report.verdict, report.stopped) == ("replays", "completes")
    assert report.unconsumed == [str(address("discount", 10))]
    assert info.status == RunStatus.COMPLETED


def test_a_gathered_new_branch_before_recorded_ones_replays(bench: Bench) -> None:
    step, fresh = bench.task("step"), bench.task("fresh")

    async def a(input: Any, run: Run) -> None:
        await asyncio.gather(step.start(run, 1), step.start(run, 2))
        await bench.crash.start(run)

    async def b(input: Any, run: Run) -> Any:
        return await asyncio.gather(fresh.start(run, 0), step.start(run, 2), step.start(run, 1))

    report, info = agree(bench, bench.interrupt(a), b)

    assert (report.verdict, report.stopped) == ("replays", "task 'fresh' would execute")
    assert info.status == RunStatus.COMPLETED


# -- unsafe ----------------------------------------------------------------------------


def test_an_insert_before_recorded_calls_diverges_with_the_engines_message(bench: Bench) -> None:
    charge, fraud_check, ship = bench.task("charge"), bench.task("fraud-check"), bench.task("ship")

    async def a(input: Any, run: Run) -> None:
        await charge.start(run, 10)
        await ship.start(run, 1)
        await bench.crash.start(run)

    async def b(input: Any, run: Run) -> None:
        await charge.start(run, 10)
        await fraud_check.start(run, 10)
        await ship.start(run, 1)

    report, info = agree(bench, bench.interrupt(a), b)

    assert_same_divergence(report, info, "fraud-check")
    assert report.unconsumed == [str(address("ship", 1))]
    assert bench.counts["fraud-check"] == 0


def test_a_changed_input_diverges_with_the_engines_message(bench: Bench) -> None:
    charge, ship = bench.task("charge"), bench.task("ship")

    async def a(input: Any, run: Run) -> None:
        await charge.start(run, {"amount": 10})
        await ship.start(run, 1)
        await bench.crash.start(run)

    async def b(input: Any, run: Run) -> None:
        await charge.start(run, {"amount": 9})
        await ship.start(run, 1)

    report, info = agree(bench, bench.interrupt(a), b)

    assert_same_divergence(report, info, "charge")
    assert report.replayed == 0


def test_changed_control_flow_diverges_with_the_engines_message(bench: Bench) -> None:
    total = bench.task("total", lambda value: 150)
    discount, ship = bench.task("discount"), bench.task("ship")

    async def a(input: Any, run: Run) -> None:
        amount = await total.start(run, input)
        if amount > 100:
            await discount.start(run, amount)
        await bench.crash.start(run)

    async def b(input: Any, run: Run) -> None:
        amount = await total.start(run, input)
        if amount > 1000:
            await discount.start(run, amount)
        await ship.start(run, amount)

    report, info = agree(bench, bench.interrupt(a), b)

    assert_same_divergence(report, info, "ship")
    assert bench.counts["ship"] == 0


def test_a_divergence_swallowed_by_except_exception_is_still_one(bench: Bench) -> None:
    charge, fraud_check, ship = bench.task("charge"), bench.task("fraud-check"), bench.task("ship")

    async def a(input: Any, run: Run) -> None:
        await charge.start(run, 10)
        await ship.start(run, 1)
        await bench.crash.start(run)

    swallowed: list[Exception] = []

    async def b(input: Any, run: Run) -> Any:
        await charge.start(run, 10)
        try:
            await fraud_check.start(run, 10)
        except Exception as error:
            swallowed.append(error)
        return await ship.start(run, 1)

    report, info = agree(bench, bench.interrupt(a), b)

    assert_same_divergence(report, info, "fraud-check")
    assert swallowed == []


def test_a_replayed_failure_the_run_had_not_reached_is_reported_as_failing(bench: Bench) -> None:
    def out_of_stock(value: Any) -> Any:
        raise ValueError("out of stock")

    reserve = bench.task("reserve", out_of_stock)

    async def a(input: Any, run: Run) -> None:
        try:
            await reserve.start(run, 1)
        except TaskFailed:
            await bench.crash.start(run)

    async def b(input: Any, run: Run) -> None:
        await reserve.start(run, 1)

    report, info = agree(bench, bench.interrupt(a), b)

    assert info.status == RunStatus.FAILED and info.error is not None
    assert report.verdict == "fails" and report.error is not None
    assert (report.error.type, report.error.message) == (info.error.type, info.error.message)
    assert bench.counts["reserve"] == 1


def test_a_failed_run_fails_the_same_way_on_replay_and_that_replays(bench: Bench) -> None:
    def out_of_stock(value: Any) -> Any:
        raise ValueError("out of stock")

    reserve = bench.task("reserve", out_of_stock)

    async def a(input: Any, run: Run) -> None:
        await reserve.start(run, 1)

    version = WorkflowVersion("wf", "1.0.0", a)
    run_id = bench.client.create(version, None).id
    asyncio.run(Worker(bench.client, [version], poll_interval=0.01).run(until_idle=True))
    report = bench.check(run_id, a)

    assert (report.status, report.verdict) == (RunStatus.FAILED, "replays")
    assert report.stopped == "fails as recorded (TaskFailed)"


# -- waits: the check stops where the engine parks --------------------------------------


def test_a_changed_sleep_parks_where_the_engine_parks(bench: Bench) -> None:
    charge = bench.task("charge")

    async def a(input: Any, run: Run) -> None:
        await charge.start(run, 10)
        await run.sleep("cool", "1h")

    async def renamed(input: Any, run: Run) -> None:
        await charge.start(run, 10)
        await run.sleep("cool-off", "1h")

    run_id = bench.park(a)
    bench.clock.advance("2h")  # the recorded sleep is due: a worker would resume the run
    report, info = agree(bench, run_id, renamed)

    assert (report.verdict, report.stopped) == ("replays", "parks sleeping: sleep 'cool-off'")
    assert info.status == RunStatus.SLEEPING
    entries = asyncio.run(bench.client.history(run_id))
    assert [e.name for e in entries if e.type == "sleep_started"] == ["cool", "cool-off"]
    assert info.due_at == bench.clock.now() + timedelta(hours=1), "parked on the new sleep"
    assert bench.counts == Counter(charge=1)


def test_a_wait_inserted_before_recorded_calls_parks_and_names_them(bench: Bench) -> None:
    charge, ship = bench.task("charge"), bench.task("ship")

    async def a(input: Any, run: Run) -> None:
        await charge.start(run, 10)
        await ship.start(run, 1)
        await bench.crash.start(run)

    async def b(input: Any, run: Run) -> None:
        await charge.start(run, 10)
        await run.wait_for_event("approved")
        await ship.start(run, 1)

    report, info = agree(bench, bench.interrupt(a), b)

    assert report.verdict == "replays"
    assert report.stopped == "parks awaiting_event: event 'approved'"
    assert report.unconsumed == [str(address("ship", 1))]
    assert info.status == RunStatus.AWAITING_EVENT


def test_a_version_missing_from_the_code_is_reported(bench: Bench) -> None:
    async def a(input: Any, run: Run) -> None:
        await bench.crash.start(run)

    run_id = bench.interrupt(a)
    other = WorkflowVersion("wf", "2.0.0", a)
    (report,) = asyncio.run(bench.client.replay_check({other.ref: other}, [run_id]))

    assert report.verdict == "missing" and not report.ok
    assert report.error is not None and "wf@2.0.0" in report.error.message


def test_by_default_every_unfinished_run_is_checked_and_finished_ones_are_not(
    bench: Bench,
) -> None:
    async def a(input: Any, run: Run) -> None:
        await bench.crash.start(run)

    async def done(input: Any, run: Run) -> str:
        return "done"

    finished = bench.client.create(WorkflowVersion("wf", "1.0.0", done), None).id
    bench.resume(finished, done)
    unfinished = bench.interrupt(a)
    version = WorkflowVersion("wf", "1.0.0", a)

    default = asyncio.run(bench.client.replay_check({version.ref: version}))
    chosen = asyncio.run(
        bench.client.replay_check({version.ref: version}, statuses=[RunStatus.COMPLETED])
    )

    assert [report.id for report in default] == [unfinished]
    assert [report.id for report in chosen] == [finished]


def test_the_testing_kit_checks_exported_journals_and_stores(tmp_path: Path) -> None:
    """What a team commits as a fixture: a run `aiki export` wrote, checked in pytest."""
    charge, ship = task(name="charge", exec=lambda v: v), task(name="ship", exec=lambda v: v)

    async def first(input: Any, run: Run) -> Any:
        await charge.start(run, 10)
        return await run.wait_for_event("go")

    async def inserted(input: Any, run: Run) -> Any:
        await ship.start(run, 1)
        await charge.start(run, 10)
        return await run.wait_for_event("go")

    deployed = WorkflowVersion("wf", "1.0.0", first)
    harness = Harness([deployed])
    run_id = asyncio.run(harness.start(deployed)).id
    asyncio.run(harness.run_until_idle())
    spec, entries = harness.store.read_run(run_id)
    exported = tmp_path / "run.json"
    exported.write_text(harness.store.export_run(run_id).to_json())  # what `aiki export` writes

    (same,) = replay_check([deployed], journals=[exported])
    (changed,) = replay_check([WorkflowVersion("wf", "1.0.0", inserted)], journals=[exported])
    (stored,) = replay_check([deployed], store=harness.store)

    assert (same.ok, same.journal) == (True, str(exported))
    assert same.stopped == "parks awaiting_event: event 'go'"
    assert changed.verdict == "diverges" and changed.error is not None
    assert "the code calls task 'ship'" in changed.error.message
    assert (stored.id, stored.ok) == (run_id, True)
    assert harness.store.read_run(run_id) == (spec, entries)


def test_a_child_still_going_is_a_park_and_a_new_child_is_never_started() -> None:
    nap = task(name="nap-task", exec=lambda v: v)

    async def child_code(input: Any, run: Run) -> Any:
        await run.sleep("nap", "1h")
        return await nap.start(run, input)

    child = WorkflowVersion("child", "1.0.0", child_code)

    async def parent_code(input: Any, run: Run) -> Any:
        handle = await child.start(run, 1)
        return await handle.wait_for_completion()

    async def two_children(input: Any, run: Run) -> Any:
        first = await child.start(run, 1)
        await child.start(run, 2)
        return await first.wait_for_completion()

    parent = WorkflowVersion("parent", "1.0.0", parent_code)
    harness = Harness([parent, child])
    run_id = asyncio.run(harness.start(parent)).id
    asyncio.run(harness.advance("1m"))
    child_id = asyncio.run(harness.client.get(run_id)).children[0]
    runs = list(harness.store.list_runs())

    (parked,) = replay_check([parent, child], store=harness.store, run_ids=[run_id])
    changed = WorkflowVersion("parent", "1.0.0", two_children)
    (starting,) = replay_check([changed, child], store=harness.store, run_ids=[run_id])

    assert parked.stopped == f"parks awaiting_child: child {child_id}"
    assert starting.stopped == "a child run of child@1.0.0 would start"
    assert list(harness.store.list_runs()) == runs, "no child run was created"


def test_event_data_reaches_the_replayed_code_through_the_versions_model() -> None:
    class Approval(BaseModel):
        by: str

    ship = task(name="ship", exec=lambda v: v)

    async def approval(input: Any, run: Run) -> Any:
        answer = await run.wait_for_event("approved")
        return await ship.start(run, answer.data.by)  # a model, not a dict

    version = WorkflowVersion("wf", "1.0.0", approval, events={"approved": Approval})
    harness = Harness([version])
    handle = asyncio.run(harness.start(version))
    asyncio.run(harness.run_until_idle())
    asyncio.run(harness.send(handle, "approved", {"by": "ada"}))
    asyncio.run(harness.run_until_idle())

    (report,) = replay_check([version], store=harness.store, run_ids=[handle.id])

    assert (report.status, report.verdict, report.stopped) == ("completed", "replays", "completes")
