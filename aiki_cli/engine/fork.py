"""Forking a run: a new run of the same workflow (the same version, or another) whose
journal reuses the recorded results of the calls made before one task call, so that it
executes from that call on (`aiki fork RUN_ID --from TASK#N`).

A call is what `status` lists as a row: each task call in the order it first started,
its retries on the same row. The fork's journal holds the results of the calls before
the chosen one and the waits that ended before it (sleeps, events, children); content
addressing then decides which are reused. The plan replays the code over that journal
with the fork's input (`replay_check.replay`, executing nothing): the results it consumes
before it first needs a call with nothing recorded are kept, the others dropped, so the
fork never diverges from its own journal — a new input that changes a call's input
changes which calls are reused.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..authoring.workflow import WorkflowVersion
from ..errors import BadInput
from ..model.entry import (
    ChildEnded,
    ChildStarted,
    Entry,
    EventReceived,
    EventTimedOut,
    EventWaited,
    SleepEnded,
    SleepStarted,
    StatusChanged,
    TaskCompleted,
    TaskFailed,
    TaskStarted,
)
from ..model.export import RunExport
from ..model.journal import summarize
from ..model.runinfo import ForkOrigin, RunSpec, new_spec
from ..model.status import RunStatus
from ..store import Store
from ..values.canonical import Address
from ..values.clock import Clock
from .replay_check import Replay, replay

_WAITS = (SleepStarted, SleepEnded, EventWaited, EventReceived, EventTimedOut)


@dataclass
class Call:
    """One call of a task as the source run recorded it."""

    task: str
    hash: str
    number: int  # the how-manieth call of its task, from 1
    position: int  # where in the journal it first started
    started: TaskStarted
    completed: TaskCompleted | None = None

    @property
    def address(self) -> Address:
        return Address(self.task, self.hash)


class PlannedCall(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    task: str
    call: int
    hash: str
    reused: bool


class ForkPlan(BaseModel):
    """What a fork reuses and executes: the document `fork --json` prints. `run_id` is the
    new run's, None on a dry run."""

    model_config = ConfigDict(defer_build=True)

    forked_from: ForkOrigin
    workflow: str
    version: str
    input: Any = None
    calls: list[PlannedCall]
    then: str  # what the new run does first, once its reused results are replayed
    run_id: str | None = None

    def document(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def calls_of(entries: Sequence[Entry]) -> list[Call]:
    """The run's task calls in the order they first started, as `status` lists them."""
    calls: list[Call] = []
    numbers: Counter[str] = Counter()
    open_calls: defaultdict[Address, deque[Call]] = defaultdict(deque)
    retrying: defaultdict[Address, deque[Call]] = defaultdict(deque)
    attempt = 1
    for position, entry in enumerate(entries):
        if isinstance(entry, StatusChanged):
            if entry.attempt > attempt:  # a retried run runs its failed calls again
                attempt = entry.attempt
                retrying = _failed(calls)
            if entry.new == RunStatus.RUNNING:
                open_calls.clear()
        elif isinstance(entry, TaskStarted):
            where = Address(entry.task, entry.hash)
            call = retrying[where].popleft() if retrying[where] else None
            if call is None:
                numbers[entry.task] += 1
                call = Call(entry.task, entry.hash, numbers[entry.task], position, entry)
                calls.append(call)
            call.started = entry
            open_calls[where].append(call)
        elif isinstance(entry, TaskCompleted | TaskFailed):
            where = Address(entry.task, entry.hash)
            finished = open_calls[where].popleft() if open_calls[where] else None
            if finished is not None and isinstance(entry, TaskCompleted):
                finished.completed = entry
            elif finished is not None and isinstance(entry, TaskFailed) and entry.retry_at:
                retrying[where].append(finished)
    return calls


def _failed(calls: list[Call]) -> defaultdict[Address, deque[Call]]:
    again: defaultdict[Address, deque[Call]] = defaultdict(deque)
    for call in calls:
        if call.completed is None:
            again[call.address].append(call)
    return again


def chosen(run_id: str, calls: list[Call], task: str, number: int) -> Call:
    """The `number`-th call of `task`; `BadInput` in one line when there is none."""
    of_task = [call for call in calls if call.task == task]
    if not of_task:
        names = ", ".join(dict.fromkeys(call.task for call in calls)) or "none"
        raise BadInput(f"run {run_id} never called task {task!r}; its tasks: {names}")
    if not 1 <= number <= len(of_task):
        raise BadInput(
            f"run {run_id} called task {task!r} {len(of_task)} time(s); "
            f"--from {task}#{number} is beyond them"
        )
    return of_task[number - 1]


def check_forkable(spec: RunSpec, entries: Sequence[Entry]) -> None:
    """A run still going may move on under the fork: only an ended or paused one forks."""
    status = summarize(spec, entries).status
    if not status.terminal and status != RunStatus.PAUSED:
        raise BadInput(
            f"run {spec.id} is {status}; fork a completed, failed, cancelled or paused run "
            f"(`aiki pause {spec.id}` first)"
        )


async def fork(
    store: Store,
    clock: Clock,
    origin: ForkOrigin,
    code: WorkflowVersion,
    input: Any = ...,
    *,
    dry_run: bool = False,
) -> ForkPlan:
    """Fork the run `origin` names on `code` (a version of its workflow), with `input`
    (left out: the run's own); store the new run unless `dry_run`. Its plan."""
    spec, entries = store.read_run(origin.run_id)
    if code.name != spec.workflow:
        raise BadInput(f"run {spec.id} is a run of {spec.workflow}, not of {code.name}")
    data = spec.input if input is ... else code.inputs.encode(input)
    document, new, journal = await plan(
        (spec, entries), origin, code, data, clock=clock, store=store
    )
    if not dry_run:
        # One atomic import: no worker can claim the run before its journal is in place.
        store.import_run(RunExport(spec=new, journal=journal))
        document.run_id = new.id
    return document


async def plan(
    source: tuple[RunSpec, list[Entry]],
    origin: ForkOrigin,
    code: WorkflowVersion,
    input: Any,
    *,
    clock: Clock,
    store: Store | None = None,
) -> tuple[ForkPlan, RunSpec, list[Entry]]:
    """The fork of the source run from `origin`'s call, on `code` with `input` (encoded):
    its plan, its start record and its journal. Executes nothing, writes nothing."""
    spec, entries = source
    check_forkable(spec, entries)
    calls = calls_of(entries)
    target = chosen(spec.id, calls, origin.task, origin.call)
    before = calls[: next(i for i, call in enumerate(calls) if call is target)]
    fork = new_spec(code.name, code.version, input, clock.now(), forked_from=origin)
    offered = _journal(entries, before, target.position, {id(call) for call in before})
    tried = await replay(fork, offered, code, clock=clock, store=store)
    kept = _reused(before, tried)
    journal = _journal(entries, before, target.position, {id(call) for call in kept})
    then = await replay(fork, journal, code, clock=clock, store=store)
    planned = [
        PlannedCall(task=c.task, call=c.number, hash=c.hash, reused=any(c is k for k in kept))
        for c in calls
    ]
    document = ForkPlan(
        forked_from=origin,
        workflow=code.name,
        version=code.version,
        input=input,
        calls=planned,
        then=_then(then),
    )
    return document, fork, journal


def _reused(before: list[Call], tried: Replay) -> list[Call]:
    """The completed calls whose results the code consumed, in the order recorded."""
    left = Counter(tried.consumed)
    kept = []
    for call in before:
        if call.completed is not None and left[call.address] > 0:
            left[call.address] -= 1
            kept.append(call)
    return kept


def _journal(entries: Sequence[Entry], before: list[Call], cut: int, kept: set[int]) -> list[Entry]:
    """The fork's journal: the started and completed entries of the `kept` calls, and the
    waits that ended before `cut` (a child's start only with its end)."""
    wanted: set[int] = set()
    for call in before:
        if id(call) in kept and call.completed is not None:
            wanted.update({id(call.started), id(call.completed)})
    ended = {e.child for e in entries[:cut] if isinstance(e, ChildEnded)}
    for entry in entries[:cut]:
        if isinstance(entry, _WAITS) or (
            isinstance(entry, ChildStarted | ChildEnded) and entry.child in ended
        ):
            wanted.add(id(entry))
    return [entry for entry in entries if id(entry) in wanted]


def _then(replayed: Replay) -> str:
    if replayed.stopped is not None:
        return replayed.stopped
    if replayed.status == RunStatus.COMPLETED:
        return "completes"
    error = replayed.fields.get("error")
    if error is not None:
        return f"fails: {error.type}: {error.message}"
    return f"parks {replayed.waiting}"
