"""The in-memory store: the same contract as the file store, for tests and embedding."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..errors import IllegalTransition, RunClaimed, RunExists, RunNotFound
from ..model.entry import Entry
from ..model.export import RunExport
from ..model.journal import summarize
from ..model.runinfo import RunInfo, RunSpec
from ..model.schedule import Schedule
from ..values.ids import check_run_id
from .base import (
    REQUESTS,
    Claim,
    Mail,
    PlainLooks,
    Request,
    RunRef,
    Taken,
    Timer,
    claim_each,
    release_each,
)
from .report import Report


@dataclass
class _Run:
    spec: RunSpec
    entries: list[Entry] = field(default_factory=list)
    requests: set[str] = field(default_factory=set)
    inbox: dict[str, Mail] = field(default_factory=dict)
    refs: set[str] = field(default_factory=set)
    claimed: bool = False


class MemoryStore:
    location = ":memory:"

    def __init__(self) -> None:
        self._runs: dict[str, _Run] = {}
        self._keys: dict[tuple[str, str], str] = {}
        self._ready: dict[str, None] = {}
        self._timers: dict[tuple[str, str], datetime] = {}
        self._schedules: dict[str, Schedule] = {}
        self._workers: dict[str, dict[str, Any]] = {}
        self._mutex = threading.Lock()

    def _run(self, run_id: str) -> _Run:
        run_id = check_run_id(run_id)
        run = self._runs.get(run_id)
        if run is None:
            raise RunNotFound(run_id, self.location)
        return run

    def create_run(self, spec: RunSpec) -> RunSpec:
        with self._mutex:
            if spec.idempotency_key is not None:
                key = (spec.workflow, spec.idempotency_key)
                if key in self._keys:
                    return self._runs[self._keys[key]].spec
                self._keys[key] = spec.id
            self._runs[spec.id] = _Run(spec)
            self._ready[spec.id] = None
        return spec

    def create_runs(self, specs: Sequence[RunSpec]) -> None:
        for spec in specs:
            self.create_run(spec)

    def read_run(self, run_id: str) -> tuple[RunSpec, list[Entry]]:
        with self._mutex:
            run = self._run(run_id)
            return run.spec, list(run.entries)

    def read_since(self, run_id: str, cursor: int = 0) -> tuple[RunSpec, list[Entry], int]:
        with self._mutex:
            run = self._run(run_id)
            return run.spec, run.entries[cursor:], len(run.entries)

    def read_summary(self, run_id: str, *, tasks: bool = True) -> RunInfo:
        info = summarize(*self.read_run(run_id))
        if not tasks:
            info.tasks = []
        return info

    def list_runs(self) -> Iterator[RunRef]:
        with self._mutex:
            specs = [run.spec for run in self._runs.values()]
        for spec in reversed(specs):
            yield RunRef(spec.id, spec.workflow, spec.version)

    def ready_runs(self) -> list[str]:
        with self._mutex:
            return sorted(self._ready)

    def is_ready(self, run_id: str) -> bool:
        with self._mutex:
            return run_id in self._ready

    def claim(self, run_id: str, *, queued_only: bool = False) -> MemoryClaim | None:
        with self._mutex:
            if queued_only and check_run_id(run_id) not in self._ready:
                return None
            run = self._run(run_id)
            if run.claimed:
                return None
            run.claimed = True
            return MemoryClaim(self, run, queued=run_id in self._ready)

    def claim_many(self, run_ids: Sequence[str], *, queued_only: bool = False) -> list[Taken]:
        return claim_each(self, run_ids, queued_only=queued_only)

    def release_many(self, claims: Sequence[Claim]) -> None:
        release_each(claim.release for claim in claims)

    def flush_together(self, claims: list[Claim]) -> bool:
        return True  # memory is as durable as it gets: there is nothing to flush

    def request(self, run_id: str, kind: Request) -> None:
        with self._mutex:
            run = self._run(run_id)
            run.requests.add(kind)
            self._ready[run.spec.id] = None

    def requests(self, run_id: str) -> frozenset[str]:
        with self._mutex:
            return frozenset(self._run(run_id).requests)

    def post(self, run_id: str, mail: Mail) -> bool:
        with self._mutex:
            run = self._run(run_id)
            if mail.key in run.refs:
                return False
            posted = run.inbox.setdefault(mail.key, mail) is mail
            self._ready[run.spec.id] = None  # an unread letter always has its run queued
            return posted

    def unread_mail(self, run_id: str) -> list[Mail]:
        with self._mutex:
            letters = list(self._run(run_id).inbox.values())
        return sorted(letters, key=lambda mail: (mail.sent_at, mail.order, mail.key))

    def posted(self, run_id: str, key: str) -> bool:
        with self._mutex:
            run = self._run(run_id)
            return key in run.refs or key in run.inbox

    def mark_ready(self, run_id: str) -> None:
        with self._mutex:
            self._ready[self._run(run_id).spec.id] = None

    def due_timers(self, now: datetime) -> list[Timer]:
        with self._mutex:
            timers = [Timer(due, kind, target) for (kind, target), due in self._timers.items()]  # type: ignore[arg-type]
        return sorted(timer for timer in timers if timer.due <= now)

    def next_due(self) -> datetime | None:
        with self._mutex:
            return min(self._timers.values(), default=None)

    def clear_timer(self, timer: Timer) -> None:
        with self._mutex:
            if self._timers.get((timer.kind, timer.target)) == timer.due:
                del self._timers[timer.kind, timer.target]

    def _set_timer(self, kind: str, target: str, due: datetime | None) -> None:
        with self._mutex:
            if due is None:
                self._timers.pop((kind, target), None)
            else:
                self._timers[kind, target] = due

    def save_schedule(self, schedule: Schedule) -> None:
        with self._mutex:
            self._schedules[schedule.id] = schedule
        self._set_timer("schedule", schedule.id, None if schedule.paused else schedule.next_due)

    def schedule(self, schedule_id: str) -> Schedule | None:
        with self._mutex:
            return self._schedules.get(schedule_id)

    def schedules(self) -> list[Schedule]:
        with self._mutex:
            return [self._schedules[key] for key in sorted(self._schedules)]

    def rearm_schedules(self) -> list[str]:
        with self._mutex:
            unarmed = [
                schedule
                for schedule in self._schedules.values()
                if not schedule.paused and ("schedule", schedule.id) not in self._timers
            ]
        for schedule in unarmed:
            self._set_timer("schedule", schedule.id, schedule.next_due)
        return [schedule.id for schedule in unarmed]

    def remove_schedule(self, schedule_id: str) -> None:
        with self._mutex:
            self._schedules.pop(schedule_id, None)
        self._set_timer("schedule", schedule_id, None)

    def _set_ready(self, run_id: str, ready: bool) -> None:
        with self._mutex:
            if ready:
                self._ready[run_id] = None
            else:
                self._ready.pop(run_id, None)

    @contextlib.contextmanager
    def register_worker(self, worker_id: str, info: dict[str, Any]) -> Iterator[None]:
        with self._mutex:
            if worker_id in self._workers:
                raise RuntimeError(f"worker id {worker_id} is already in use")
            self._workers[worker_id] = info
        try:
            yield
        finally:
            with self._mutex:
                self._workers.pop(worker_id, None)

    def live_workers(self) -> list[dict[str, Any]]:
        with self._mutex:
            return list(self._workers.values())

    def examine(self, *, repair: bool = False) -> Report:
        """Nothing to find: the memory store keeps no derived record apart from what it
        derives from, and no crash can leave it half-written (it dies with its process)."""
        with self._mutex:
            busy = [run_id for run_id, run in self._runs.items() if run.claimed]
            return Report(self.location, runs=len(self._runs), busy=busy)

    def export_run(self, run_id: str) -> RunExport:
        with self._mutex:
            run = self._run(run_id)
            letters = sorted(run.inbox.values(), key=lambda m: (m.sent_at, m.order, m.key))
            return RunExport(
                spec=run.spec,
                journal=list(run.entries),
                mail=letters,
                requests=sorted(run.requests),  # type: ignore[arg-type]
            )

    def import_run(self, run: RunExport) -> None:
        spec = run.spec
        queued, due = run.placement()
        with self._mutex:
            check_run_id(spec.id)
            key = None if spec.idempotency_key is None else (spec.workflow, spec.idempotency_key)
            if spec.id in self._runs:
                raise RunExists(spec.id, self.location)
            if key is not None and key in self._keys:
                raise RunExists(spec.id, self.location, _key_taken(self._keys[key]))
            self._runs[spec.id] = _Run(
                spec,
                list(run.journal),
                set(run.requests),
                {mail.key: mail for mail in run.mail},
                set(run.received_keys()),
            )
            if key is not None:
                self._keys[key] = spec.id
            if queued:
                self._ready[spec.id] = None
        if due is not None:
            self._set_timer("run", spec.id, due)

    def remove_run(self, run_id: str) -> None:
        with self._mutex:
            run = self._run(run_id)
            if run.claimed:
                raise RunClaimed(run.spec.id, self.location)
            status = summarize(run.spec, run.entries).status
            if not status.terminal:
                raise IllegalTransition(run.spec.id, status, "be removed", _ONLY_ENDED)
            spec = run.spec
            del self._runs[spec.id]
            self._ready.pop(spec.id, None)
            self._timers.pop(("run", spec.id), None)
            if spec.idempotency_key is not None:
                key = (spec.workflow, spec.idempotency_key)
                if self._keys.get(key) == spec.id:
                    del self._keys[key]


_ONLY_ENDED = "only runs that have ended can be removed"


def _key_taken(holder: str) -> str:
    return f"its idempotency key already started run {holder}, which keeps it"


class MemoryClaim(PlainLooks):
    def __init__(self, store: MemoryStore, run: _Run, *, queued: bool) -> None:
        self.spec = run.spec
        self.entries = list(run.entries)
        self.queued = queued
        self._store = store
        self._run = run
        self._held = True

    def append(self, *entries: Entry, sync: bool = True) -> None:
        with self._store._mutex:
            self._run.entries.extend(entries)
        self.entries.extend(entries)

    unsynced = False  # memory is as durable as it gets

    def flush(self) -> None:
        pass

    def requests(self, kinds: Iterable[Request] = REQUESTS) -> frozenset[str]:
        with self._store._mutex:
            return frozenset(self._run.requests.intersection(kinds))

    def clear_request(self, kind: Request) -> None:
        with self._store._mutex:
            self._run.requests.discard(kind)

    def mail(self) -> list[Mail]:
        with self._store._mutex:
            letters = list(self._run.inbox.values())
        return sorted(letters, key=lambda mail: (mail.sent_at, mail.order, mail.key))

    def ack(self, mail: Mail) -> None:
        with self._store._mutex:
            self._run.inbox.pop(mail.key, None)
            if mail.reference_id is not None:
                self._run.refs.add(mail.key)

    def set_ready(self, ready: bool, *, at_release: bool = False) -> None:
        self._store._set_ready(self.spec.id, ready)

    def set_timer(self, due: datetime | None) -> None:
        self._store._set_timer("run", self.spec.id, due)

    def leave_queue(self) -> None:
        with self._store._mutex:
            if not (self._run.requests or self._run.inbox):
                self._store._ready.pop(self.spec.id, None)

    def release(self) -> None:
        with self._store._mutex:
            if self._held:  # a second release must not free a later claim of the run
                self._held = False
                self._run.claimed = False
