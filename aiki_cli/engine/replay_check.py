"""Replaying a run against today's code while executing nothing: `aiki replay --check`,
and the plan of `aiki fork`.

The run's code runs under the engine's own machinery — `Run` with its replay book and
history, and `Engine._drive`, which turns how the code ended into a status — over a claim
that keeps in memory whatever the code would journal. The first thing that would act
outside the code stops the replay where the engine would do it: a task's body
(`TaskStarted` is journaled just before a body runs) or a child's start. A park (a
sleep, an event, a child still going, a retry's delay) stops it where the engine parks.
Nothing is executed, sent or written; the store is only read.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..authoring.history import EventResult
from ..authoring.replay import ReplayBook
from ..authoring.run import Run
from ..authoring.task import Task
from ..authoring.threads import Threads
from ..authoring.workflow import WorkflowVersion
from ..errors import BadInput, InvalidJSON, RunDamaged
from ..model.entry import Entry, ErrorInfo, StatusChanged, TaskStarted
from ..model.export import EXPORT_FORMAT, RunExport
from ..model.journal import current_status, summarize
from ..model.runinfo import RunInfo, RunSpec
from ..model.status import RunStatus
from ..signals import Signal
from ..store import REQUESTS, Mail, Request, Store
from ..store.base import PlainLooks
from ..values.canonical import Address
from ..values.clock import Clock
from .execution import Engine, workflow_retry

Verdict = Literal["replays", "diverges", "fails", "missing"]


class Stop(Signal):
    """The replayed code reached work the engine would do now, with nothing recorded."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class ReplayReport(BaseModel):
    """What replaying one run against the code says: one item of `replay --check --json`."""

    model_config = ConfigDict(defer_build=True)

    id: str
    workflow: str
    version: str
    status: RunStatus  # the run's, as stored
    verdict: Verdict
    stopped: str | None = None  # where the replay ended, when it did not fail
    replayed: int = 0  # recorded task results the code consumed
    unconsumed: list[str] = Field(default_factory=list)  # recorded, not asked for (yet)
    error: ErrorInfo | None = None
    journal: str | None = None  # the exported file the run was read from

    @property
    def ok(self) -> bool:
        return self.verdict == "replays"

    def document(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


@dataclass
class Replay:
    """How a replay ended: the status the engine would journal (None when it stopped at
    work to do, `stopped` says which), and the recorded results the code consumed."""

    status: RunStatus | None
    fields: dict[str, Any]
    stopped: str | None
    consumed: Counter[Address]
    unconsumed: list[str]
    waiting: str | None = None


class _Reading(PlainLooks):
    """A claim that journals in memory only, and stops the code where a task's body
    would run (the engine journals `TaskStarted` just before it)."""

    unsynced = False
    queued = False  # a replay is not the run's execution: nothing queued it

    def __init__(self, spec: RunSpec, entries: Iterable[Entry]) -> None:
        self.spec = spec
        self.entries = list(entries)

    def append(self, *entries: Entry, sync: bool = True) -> None:
        for entry in entries:
            if isinstance(entry, TaskStarted):
                again = f" (attempt {entry.attempt})" if entry.attempt > 1 else ""
                raise Stop(f"task {entry.task!r} would execute{again}")
        self.entries.extend(entries)

    def requests(self, kinds: Iterable[Request] = REQUESTS) -> frozenset[str]:
        return frozenset()  # a replay heeds no cancel, pause or wake: it changes nothing

    def mail(self) -> list[Mail]:
        return []

    def flush(self) -> None: ...
    def clear_request(self, kind: Request) -> None: ...
    def ack(self, mail: Mail) -> None: ...
    def set_ready(self, ready: bool, *, at_release: bool = False) -> None: ...
    def set_timer(self, due: datetime | None) -> None: ...
    def leave_queue(self) -> None: ...
    def release(self) -> None: ...


class _ReadOnly:
    """The store as replayed code sees it: a child's state is read, no child is started.
    Without a store (a run read from an exported file) a child still going is not at hand."""

    def __init__(self, store: Store | None) -> None:
        self._store = store
        self.location = store.location if store is not None else "(exported run)"

    def create_run(self, spec: RunSpec) -> RunSpec:
        raise Stop(f"a child run of {spec.workflow}@{spec.version} would start")

    def read_run(self, run_id: str) -> tuple[RunSpec, list[Entry]]:
        if self._store is None:
            raise Stop(f"awaits child run {run_id}, which an exported run does not hold")
        return self._store.read_run(run_id)


class _Asking(Run):
    """The engine's run, noting the address of every task call the code makes, and the
    waits it has not come back from."""

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        self.asked: list[Address] = []
        self.waits: list[str] = []

    async def sleep(self, name: str, duration: float | str | timedelta) -> bool:
        self.waits.append(wait := f"sleep {name!r}")
        woken = await super().sleep(name, duration)
        self.waits.remove(wait)
        return woken

    async def wait_for_event(
        self, name: str, *, timeout: float | str | timedelta | None = None
    ) -> EventResult:
        self.waits.append(wait := f"event {name!r}")
        received = await super().wait_for_event(name, timeout=timeout)
        self.waits.remove(wait)
        return received

    async def await_child(self, child_id: str) -> Any:
        self.waits.append(wait := f"child {child_id}")
        result = await super().await_child(child_id)
        self.waits.remove(wait)
        return result

    async def call(self, task: Task, input: Any = None) -> Any:
        with contextlib.suppress(Exception):  # a bad input fails the call just below
            self.asked.append(Address(task.name, task.inputs.encode_hashed(input)[1]))
        return await super().call(task, input)


async def replay(
    spec: RunSpec,
    entries: Sequence[Entry],
    version: WorkflowVersion,
    *,
    clock: Clock,
    store: Store | None = None,
) -> Replay:
    """Replay the run's code over its journal as a worker taking it now would, up to the
    first thing it would do: execute nothing, write nothing."""
    info = summarize(spec, entries)
    attempt = info.attempt + (1 if workflow_retry(list(entries)) is not None else 0)
    begun = StatusChanged(at=clock.now(), old=info.status, new=RunStatus.RUNNING, attempt=attempt)
    claim = _Reading(spec, [*entries, begun])  # as the engine journals it, before replay
    reader = cast(Store, _ReadOnly(store))  # only what `Run` asks of a store
    run = _Asking(
        claim,
        reader,
        clock=clock,
        threads=Threads(),
        attempt=attempt,
        boundary=_go_on,
        events=version.events,
    )
    engine = Engine({version.ref: version}, reader, clock=clock, worker_id="replay-check")
    status: RunStatus | None = None
    fields: dict[str, Any] = {}
    stopped = None
    try:
        status, fields = await engine._drive(version, run, claim)
    except Stop as stop:
        stopped = stop.what
    finally:
        await run.close(grace=0)
    book = ReplayBook(claim.entries[: len(entries) + 1])
    consumed: Counter[Address] = Counter(a for a in run.asked if book.take(a) is not None)
    waiting = None
    if status is not None and status.parked:
        waiting = f"{status}: {run.waits[0]}" if run.waits else str(status)
    return Replay(
        status=status,
        fields=fields,
        stopped=stopped,
        consumed=consumed,
        unconsumed=book.unconsumed(),
        waiting=waiting,
    )


def _go_on(found: frozenset[str] | None) -> None:
    """The task boundary of a replay: nothing stops it but the work it reaches."""


async def check(
    spec: RunSpec,
    entries: Sequence[Entry],
    versions: Mapping[str, WorkflowVersion],
    *,
    clock: Clock,
    store: Store | None = None,
    journal: str | None = None,
) -> ReplayReport:
    """Whether the run replays on the code of `versions`, would diverge, would fail where
    it did not, or has its version missing from the code."""
    info = summarize(spec, entries)
    report = ReplayReport(
        id=spec.id,
        workflow=spec.workflow,
        version=spec.version,
        status=info.status,
        verdict="missing",
        journal=journal,
    )
    version = versions.get(spec.ref)
    if version is None:
        known = ", ".join(sorted(versions)) or "none"
        report.error = ErrorInfo(
            type="WorkflowNotFound",
            message=f"{spec.ref} is not in the code (it defines: {known})",
        )
        return report
    replayed = await replay(spec, entries, version, clock=clock, store=store)
    report.replayed = sum(replayed.consumed.values())
    report.unconsumed = replayed.unconsumed
    _judge(report, info, replayed)
    return report


def _judge(report: ReplayReport, info: RunInfo, replayed: Replay) -> None:
    error: ErrorInfo | None = replayed.fields.get("error")
    report.verdict = "replays"
    if replayed.stopped is not None:
        report.stopped = replayed.stopped
    elif replayed.status == RunStatus.COMPLETED:
        report.stopped = "completes"
    elif error is None:  # parked where the engine would park
        report.stopped = f"parks {replayed.waiting}"
    elif error.type == "DivergenceError":
        report.verdict, report.error = "diverges", _plain(error)
    elif info.error is not None and _plain(info.error) == _plain(error):
        report.stopped = f"fails as recorded ({error.type})"
    else:
        report.verdict, report.error = "fails", _plain(error)


def _plain(error: ErrorInfo) -> ErrorInfo:
    return ErrorInfo(type=error.type, message=error.message)


def load_export(path: str | Path) -> tuple[RunSpec, list[Entry]]:
    """The run's start record and journal from a file `aiki export` wrote; `BadInput`
    naming the file when it is not one."""
    source = str(path)
    try:
        document = json.loads(Path(path).read_bytes())
    except FileNotFoundError:
        raise BadInput(f"journal file {source} does not exist") from None
    except OSError as error:
        raise BadInput(f"journal file {source} cannot be read: {error.strerror}") from None
    except (ValueError, RecursionError) as error:
        raise InvalidJSON(source, str(error)) from None
    return _exported(document, source)


def _exported(document: Any, source: str) -> tuple[RunSpec, list[Entry]]:
    if not isinstance(document, dict) or not isinstance(document.get("journal"), list):
        raise BadInput(f"{source} is not a run written by `aiki export` (no spec and journal)")
    format = document.get("format")
    if format != EXPORT_FORMAT:
        raise BadInput(
            f"{source} has export format {format}; this aiki reads format {EXPORT_FORMAT}"
        )
    try:
        run = RunExport.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise BadInput(f"{source} holds no readable run: {where}: {first['msg']}") from None
    return run.spec, run.journal


async def check_runs(
    store: Store,
    versions: Mapping[str, WorkflowVersion],
    clock: Clock,
    run_ids: Sequence[str] = (),
    *,
    workflow: str | None = None,
    version: str | None = None,
    statuses: Collection[RunStatus] | None = None,
    journals: Sequence[str | Path] = (),
) -> list[ReplayReport]:
    """Check the runs `run_ids` names and those exported in `journals`; when neither is
    given, every run in the store in `statuses` (by default every unfinished one).
    `workflow`, `version` and `statuses` narrow what is checked."""
    found: list[tuple[RunSpec, list[Entry], str | None]]
    found = [(*load_export(path), str(path)) for path in journals]
    if run_ids or not journals:
        found += [(*store.read_run(run_id), None) for run_id in run_ids]
    if not run_ids and not journals:
        found += [(*run, None) for run in _stored(store, workflow, version)]
        statuses = statuses or [status for status in RunStatus if not status.terminal]
    reports = []
    for spec, entries, journal in found:
        if _wanted(spec, entries, workflow, version, statuses):
            live = store if journal is None else None
            reports.append(
                await check(spec, entries, versions, clock=clock, store=live, journal=journal)
            )
    return reports


def _stored(
    store: Store, workflow: str | None, version: str | None
) -> Iterator[tuple[RunSpec, list[Entry]]]:
    """Every run of the store of `workflow` (and `version`), passing over the runs
    whose start did not finish and those whose files cannot be read."""
    for ref in store.list_runs():
        if (workflow and ref.workflow != workflow) or (version and ref.version != version):
            continue
        with contextlib.suppress(LookupError, RunDamaged):
            yield store.read_run(ref.id)


def _wanted(
    spec: RunSpec,
    entries: Sequence[Entry],
    workflow: str | None,
    version: str | None,
    statuses: Collection[RunStatus] | None,
) -> bool:
    if (workflow and spec.workflow != workflow) or (version and spec.version != version):
        return False
    return statuses is None or current_status(entries) in statuses
