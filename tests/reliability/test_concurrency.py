"""Four workers on one store while other processes start, cancel and send: each run is
executed by one worker at a time, every run ends as it must, nothing is lost or done
twice (SPEC §3 cancellation and events, §4 "concurrency-safe").

`AIKI_CONCURRENCY_RUNS` runs (200 in CI; 1,000 by hand) are in the store when four worker
processes start. While they work, other processes act on the store at random moments:

- two actor processes start the same keyed runs (idempotency keys) and some of their own,
  and three real `aiki start` processes start more: every one of them completes, and each
  key has exactly one run;
- actor processes and real `aiki cancel` processes cancel the slow runs: an accepted
  cancel ends the run `cancelled`, or `completed` with no task started after the cancel
  returned (only a task in flight may finish); a refused one (exit 2) found the run
  already completed. Never anything else;
- two actor processes send each waiting run its event with the same reference id, and
  two pairs of real `aiki send` processes do the same for a few runs: every event is
  delivered exactly once (the workflow returns the data it got and got no second copy;
  its journal holds one `event_received`).

Every task body holds its run's exclusive marker while it executes and records each
execution: no marker is ever found taken, and every task body executed exactly once.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from aiki_cli.model.entry import EventReceived, StatusChanged, TaskStarted
from aiki_cli.model.status import RunStatus
from aiki_cli.values.ids import RUN_ID

from ..integration.harness import Process, Processes, wait_until
from .test_kill_soak import WORKFLOWS, Store, check_records, nanos, read_executions

RUNS = int(os.environ.get("AIKI_CONCURRENCY_RUNS", "200"))
SEED = int(os.environ.get("AIKI_CONCURRENCY_SEED", str(random.SystemRandom().randrange(2**32))))
WORKERS = 4
INBOX = max(10, RUNS // 10)  # runs waiting for an event
SLOW = max(8, RUNS // 20)  # runs to cancel
KEYED = max(10, RUNS // 10)  # runs both starting actors start under the same keys
OWN = max(5, RUNS // 20)  # runs each starting actor starts on its own
CLI_STARTS, CLI_CANCELS, CLI_SEND_PAIRS = 3, 3, 2
ACT_WINDOW = 3.0  # seconds over which the actors spread their steps
# A task's `task_started` is stamped a moment after the boundary check that would have seen
# a cancel request (the event loop may serve other runs in between); this bounds it.
BOUNDARY_SLACK_NS = 500_000_000
FINISH_TIMEOUT = 120.0


@dataclass
class Plan:
    """Who does what to the store while the workers run."""

    busy: list[str] = field(default_factory=list)  # ids of rel-busy runs created up front
    inbox: dict[str, str] = field(default_factory=dict)  # run id -> key
    slow: dict[str, str] = field(default_factory=dict)  # run id -> key
    actors: list[list[dict[str, Any]]] = field(default_factory=list)  # each actor's steps
    cli: list[list[str]] = field(default_factory=list)  # real `aiki` commands


def prepare(store: Store, rng: random.Random) -> Plan:
    """Create the runs that exist before the workers start, and plan what is done to
    the store while they run."""
    plan = Plan()
    kinds = ["busy"] * (RUNS - INBOX - SLOW) + ["inbox"] * INBOX + ["slowpoke"] * SLOW
    rng.shuffle(kinds)  # workers claim in id order: mix the kinds along the queue
    for n, kind in enumerate(kinds):
        key = f"{kind[0]}{n:04d}"
        run_id = store.client.create(store.versions[f"rel-{kind}@1.0.0"], {"key": key}).id
        if kind == "busy":
            plan.busy.append(run_id)
        else:
            (plan.inbox if kind == "inbox" else plan.slow)[run_id] = key
    plan_actors(plan, lambda: round(rng.uniform(0.0, ACT_WINDOW), 3))
    plan_cli(plan)
    return plan


def plan_actors(plan: Plan, at: Callable[[], float]) -> None:
    """Two actors start the same keyed runs and their own; two send every event under the
    same reference id; one cancels the slow runs the real `aiki cancel` leaves alone."""
    busy = "rel-busy@1.0.0"
    for actor in ("a", "b"):
        keyed = [
            {"at": at(), "op": "start", "ref": busy, "input": {"key": key}, "key": key}
            for key in (f"k{n:04d}" for n in range(KEYED))
        ]
        own = [
            {"at": at(), "op": "start", "ref": busy, "input": {"key": f"own-{actor}{n}"}}
            for n in range(OWN)
        ]
        plan.actors.append(keyed + own)
    for _ in range(2):
        sends = [
            {"at": at(), "op": "send", "run": run_id, "event": "ping", "reference": key}
            for run_id, key in plan.inbox.items()
        ]
        plan.actors.append([{**send, "data": {"key": send["reference"]}} for send in sends])
    cancels = list(plan.slow)[CLI_CANCELS:]
    plan.actors.append([{"at": at(), "op": "cancel", "run": run_id} for run_id in cancels])


def plan_cli(plan: Plan) -> None:
    """A few real `aiki start`, `aiki cancel` and pairs of identical `aiki send`."""
    plan.cli += [
        ["start", "rel-busy@1.0.0", "--input-json", json.dumps({"key": f"cli-{n}"})]
        for n in range(CLI_STARTS)
    ]
    plan.cli += [["cancel", run_id] for run_id in list(plan.slow)[:CLI_CANCELS]]
    for run_id, key in list(plan.inbox.items())[:CLI_SEND_PAIRS]:
        send = ["send", run_id, "ping", "--data-json", json.dumps({"key": key})]
        plan.cli += [[*send, "--reference-id", key]] * 2


# -- acting while the workers run ----------------------------------------------------------


@dataclass
class Done:
    """One step some process took, and the time it was known to be done."""

    op: str
    run: str
    ok: bool
    done_ns: int
    value: Any = None
    error: str = ""
    via: str = "actor"
    key: str | None = None  # the idempotency key of a start


def act(store: Store, plan: Plan, rng: random.Random) -> list[Done]:
    """Run the actors and, at random moments, the real `aiki` commands; what each did."""
    outputs = []
    actors = []
    for n, steps in enumerate(plan.actors):
        plan_file, output = store.root / f"actor-{n}.json", store.root / f"actor-{n}.jsonl"
        plan_file.write_text(json.dumps(steps))
        outputs.append(output)
        args = [store.location, str(WORKFLOWS), str(plan_file), str(output)]
        actors.append(store.spawn_python(WORKFLOWS / "_rel_actor.py", *args))
    commands = sorted((rng.uniform(0, ACT_WINDOW), args) for args in plan.cli)
    began = time.monotonic()
    running: list[tuple[list[str], Process]] = []
    done: list[Done] = []
    while commands or running:
        if commands and time.monotonic() - began >= commands[0][0]:
            args = commands.pop(0)[1]
            running.append((args, store.spawn(*args)))
        for args, process in list(running):
            code = process.process.poll()
            if code is not None:
                running.remove((args, process))
                done.append(_cli_done(args, code, process.output()))
        time.sleep(0.005)
    for actor in actors:
        assert actor.wait() == 0, actor.output()
    for output in outputs:
        done += [_actor_done(json.loads(line)) for line in output.read_text().splitlines()]
    return done


def _cli_done(args: list[str], code: int, output: str) -> Done:
    """What a real `aiki` command did: done (at the latest) when the test saw it exit."""
    now = time.time_ns()
    assert "Traceback" not in output, output
    if args[0] == "start":  # its stdout, the run id alone, shares the log with stderr
        assert code == 0, output
        run_id = next(line for line in output.splitlines() if RUN_ID.fullmatch(line))
        return Done("start", run_id, True, now, via="cli")
    error = output.strip().splitlines()[-1] if code else ""
    delivered = args[0] == "send" and code == 0 and "already sent" not in output
    return Done(args[0], args[1], code == 0, now, delivered, error, via=f"cli exit {code}")


def _actor_done(record: dict[str, Any]) -> Done:
    run = record["value"] if record["op"] == "start" else record["run"]
    error = record.get("message", "")
    return Done(
        record["op"],
        run,
        record["ok"],
        record["done_ns"],
        record.get("value"),
        error,
        key=record.get("key"),
    )


# -- checking what became of every run --------------------------------------------------------


@dataclass
class Figures:
    runs: int = 0
    task_executions: int = 0
    cancels_accepted: int = 0
    cancels_refused: int = 0
    cancelled: int = 0
    completed_despite_accepted_cancel: int = 0
    sends: int = 0
    sends_reported_delivered: int = 0
    problems: list[str] = field(default_factory=list)


def check_cancels(store: Store, plan: Plan, done: list[Done], figures: Figures) -> None:
    """An accepted cancel ends the run cancelled, or completed with no task started after
    the cancel returned (only a task in flight may finish); a refused one found the run
    completed already."""
    cancels = [step for step in done if step.op == "cancel"]
    assert sorted(step.run for step in cancels) == sorted(plan.slow), "each slow run, once"
    for step in cancels:
        info = store.info(step.run)
        where = f"run {step.run} (cancel by {step.via})"
        if not step.ok:
            figures.cancels_refused += 1
            ended_before = nanos(info.updated_at) <= step.done_ns
            if "cannot be cancelled" not in step.error or not ended_before:
                figures.problems.append(f"{where}: refused ({step.error}); run {info.status}")
            continue
        figures.cancels_accepted += 1
        figures.cancelled += info.status == RunStatus.CANCELLED
        figures.completed_despite_accepted_cancel += info.status == RunStatus.COMPLETED
        if info.status not in (RunStatus.CANCELLED, RunStatus.COMPLETED):
            figures.problems.append(f"{where}: accepted, but the run is {info.status}")
        late = [
            entry.task
            for entry in store.entries(step.run)
            if isinstance(entry, TaskStarted) and nanos(entry.at) > step.done_ns + BOUNDARY_SLACK_NS
        ]
        if late:
            figures.problems.append(f"{where}: {len(late)} task(s) started after it returned")


def check_sends(store: Store, plan: Plan, done: list[Done], figures: Figures) -> None:
    """Each waiting run got its event once, whoever sent it how often."""
    sends = [step for step in done if step.op == "send"]
    figures.sends = len(sends)
    figures.sends_reported_delivered = sum(step.ok and bool(step.value) for step in sends)
    for step in sends:
        if not step.ok and "cannot take events" not in step.error:
            figures.problems.append(f"send to {step.run} by {step.via}: {step.error}")
    for run_id, key in plan.inbox.items():
        info = store.info(run_id)
        received = [e for e in store.entries(run_id) if isinstance(e, EventReceived)]
        expected = {"key": key, "got": {"key": key}, "extra": None}
        if info.status != RunStatus.COMPLETED or info.result != expected:
            figures.problems.append(f"inbox run {run_id}: {info.status}, {info.result}")
        if len(received) != 1:
            figures.problems.append(f"inbox run {run_id}: {len(received)} events received")


def check_starts(store: Store, plan: Plan, done: list[Done], figures: Figures) -> None:
    """Every run started from outside completed; each idempotency key has one run."""
    starts = [step for step in done if step.op == "start"]
    failed = [step for step in starts if not step.ok]
    assert failed == [], failed
    by_key: dict[str, set[str]] = {}
    for run_id in store.run_ids():  # a start that lost the race for its key made no run
        spec = store.client.store.read_run(run_id)[0]
        if spec.idempotency_key is not None:
            by_key.setdefault(spec.idempotency_key, set()).add(run_id)
    doubled = {key: ids for key, ids in by_key.items() if len(ids) != 1}
    for step in starts:
        if step.key is not None and {step.run} != by_key.get(step.key):
            doubled[step.key] = {step.run, *by_key.get(step.key, set())}
    if len(by_key) != KEYED or doubled:
        figures.problems.append(f"{len(by_key)} keys of {KEYED}; more than one run: {doubled}")
    for step in starts:
        info = store.info(step.run)
        if info.status != RunStatus.COMPLETED or info.result != info.input["key"]:
            figures.problems.append(f"run {step.run} started by {step.via}: {info.status}")


def check_executions(store: Store, run_ids: list[str], figures: Figures) -> None:
    """No overlap, every task body executed once, one end per run, every file parses."""
    overlaps = (store.probe / "overlaps").read_text() if (store.probe / "overlaps").exists() else ""
    figures.problems += [f"two executors at once: {line}" for line in overlaps.splitlines()]
    executions = read_executions(store.probe)
    figures.task_executions = sum(len(runs) for runs in executions.values())
    figures.problems += [
        f"{key} {call} executed {len(runs)} times"
        for (key, call), runs in executions.items()
        if len(runs) != 1
    ]
    for run_id in run_ids:
        ends = [
            entry
            for entry in store.entries(run_id)
            if isinstance(entry, StatusChanged) and entry.new.terminal
        ]
        if len(ends) != 1:
            figures.problems.append(f"run {run_id} ended {len(ends)} times")
    files = check_records(store)
    figures.problems += [f"damaged: {damage}" for damage in files.damaged]


@pytest.mark.slow
@pytest.mark.timeout(120 + RUNS // 5)
def test_four_workers_and_concurrent_starts_cancels_and_sends_lose_nothing(
    store_kind: str, store_location: str, tmp_path: Path, processes: Processes
) -> None:
    location = None if store_kind == "file" else store_location
    store = Store(tmp_path / "store", processes, location)
    try:
        work_and_check(store, processes)
    finally:
        processes.kill_all()
        store.close()


def work_and_check(store: Store, processes: Processes) -> None:
    began = time.monotonic()
    rng = random.Random(SEED)
    plan = prepare(store, rng)
    workers = [store.worker() for _ in range(WORKERS)]

    done = act(store, plan, rng)

    def all_ended() -> bool:
        return all(store.info(run_id).status.terminal for run_id in store.run_ids())

    wait_until(all_ended, "every run to end", alive=workers, timeout=FINISH_TIMEOUT)
    for worker in workers:
        worker.process.send_signal(signal.SIGTERM)
    for worker in workers:
        assert worker.wait() == 0, worker.output()

    run_ids = store.run_ids()
    figures = Figures(runs=len(run_ids))
    check_cancels(store, plan, done, figures)
    check_sends(store, plan, done, figures)
    check_starts(store, plan, done, figures)
    check_executions(store, run_ids, figures)
    for run_id in plan.busy:
        info = store.info(run_id)
        if info.status != RunStatus.COMPLETED or info.result != info.input["key"]:
            figures.problems.append(f"busy run {run_id}: {info.status}")
    executed_by = Counter(
        entry.worker
        for run_id in run_ids
        for entry in store.entries(run_id)
        if isinstance(entry, StatusChanged) and entry.new == RunStatus.RUNNING
    )
    print(
        f"\nconcurrency on {store.location}: {len(executed_by)} workers ran {figures.runs} runs in "
        f"{time.monotonic() - began:.1f}s (seed {SEED}): {json.dumps(asdict(figures))}"
    )
    assert figures.problems == [], figures.problems
    assert len(executed_by) == WORKERS, f"runs executed per worker: {executed_by}"


@pytest.mark.slow
def test_a_cancel_that_lands_during_the_last_task_ends_the_run_cancelled(
    tmp_path: Path, processes: Processes
) -> None:
    store = Store(tmp_path / "store", processes)
    gate = tmp_path / "gate"
    version = store.versions["rel-gated@1.0.0"]
    run_id = store.client.create(version, {"key": "g", "gate": str(gate)}).id
    worker = store.worker()
    wait_until(lambda: ("g", "gate") in read_executions(store.probe), "the gate", alive=worker)

    cancel = store.spawn("cancel", run_id)
    assert cancel.wait() == 0, cancel.output()
    assert "requested" in cancel.output()
    gate.touch()
    wait_until(lambda: store.info(run_id).status.terminal, "the run to end", alive=worker)

    assert store.info(run_id).status == RunStatus.CANCELLED
