"""The client: starting, reading, listing, waiting for and controlling runs in a store, and
the handle of one run that starting returns. Its schedules and its tools around whole
runs are in `schedules.py` and `tools.py`."""

from __future__ import annotations

import asyncio
import builtins
import itertools
import logging
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from ..authoring.workflow import WorkflowVersion
from ..engine import commands
from ..errors import (
    BadInput,
    IdempotencyConflict,
    NoWorker,
    RunDamaged,
    WaitTimeout,
    describe,
)
from ..model.entry import Entry
from ..model.query import RunQuery
from ..model.runinfo import DamagedRun, RunInfo, RunSpec, new_spec
from ..model.status import RunStatus
from ..store import Mail, RunRef, ServedStore, Store, open_store
from ..values.canonical import input_hash
from ..values.clock import Clock, system_clock
from ..values.codec import Codec
from ..values.duration import parse_duration
from ..values.ids import check_run_id
from ..values.naming import check_text
from .schedules import ScheduleCalls
from .tools import RunTools

MAX_KEY_LENGTH = 256

log = logging.getLogger("aiki.client")


class Client(ScheduleCalls, RunTools):
    """`Client("runs")` opens the store in that directory (created on the first write)."""

    def __init__(self, runs_dir: str | Path | Store = "runs", *, clock: Clock | None = None):
        self.store = open_store(runs_dir)
        self.clock = clock or system_clock()

    def __repr__(self) -> str:
        return f"<aiki client {self.store.location}>"

    def migrate(self) -> tuple[int, int] | None:
        """Create or upgrade a database store's tables (`aiki db migrate`): the schema
        versions before and after; None for a store that has no schema (a directory)."""
        if isinstance(self.store, ServedStore):
            return self.store.migrate()
        return None

    def close(self) -> None:
        """Close a database store's connections; a directory has none to close."""
        if isinstance(self.store, ServedStore):
            self.store.close()

    async def start(
        self,
        version: WorkflowVersion,
        input: Any = None,
        *,
        idempotency_key: str | None = None,
        delay: float | str | timedelta | None = None,
    ) -> RunHandle:
        """Create a pending run of `version` (due after `delay`, if set); with a key
        already used, the run that key started."""
        spec = self.create(version, input, idempotency_key, delay=delay)
        return RunHandle(self, spec.id, version)

    def create(
        self,
        version: WorkflowVersion,
        input: Any,
        idempotency_key: str | None = None,
        *,
        delay: float | str | timedelta | None = None,
    ) -> RunSpec:
        _check_key(idempotency_key)
        wait = None if delay is None else _delay(delay)
        data = version.inputs.encode(input)
        now = self.clock.now()
        spec = new_spec(
            version.name,
            version.version,
            data,
            now,
            idempotency_key=idempotency_key,
            not_before=None if wait is None else now + wait,
        )
        stored = self.store.create_run(spec)
        if stored.id != spec.id:
            _check_same_start(stored, spec)
        return stored

    def handle(self, run_id: str) -> RunHandle:
        return RunHandle(self, check_run_id(run_id))

    async def get(self, run_id: str) -> RunInfo:
        return self._state(run_id)

    def _state(self, run_id: str, *, tasks: bool = True) -> RunInfo:
        info = self.store.read_summary(run_id, tasks=tasks)
        info.cancel_requested = "cancel" in self.store.requests(run_id) and not info.status.terminal
        return info

    async def history(self, run_id: str) -> list[Entry]:
        return self.store.read_run(run_id)[1]

    async def list(
        self,
        *,
        status: RunStatus | None = None,
        workflow: str | None = None,
        version: str | None = None,
        limit: int | None = None,
    ) -> list[RunInfo]:
        """Runs newest first, filtered, without their task calls (`get` gives them);
        reads only the runs it returns or skips. Damaged
        runs are left out (`list_with_damaged` shows them)."""
        rows = self._rows(status, workflow, version)
        return list(islice((row for row in rows if isinstance(row, RunInfo)), limit))

    async def list_with_damaged(
        self,
        *,
        workflow: str | None = None,
        version: str | None = None,
        limit: int | None = None,
    ) -> builtins.list[RunInfo | DamagedRun]:
        """Like `list`, with the runs whose files cannot be read among them."""
        return list(islice(self._rows(None, workflow, version), limit))

    def _rows(
        self, status: RunStatus | None, workflow: str | None, version: str | None
    ) -> Iterator[RunInfo | DamagedRun]:
        for ref in self.store.list_runs():
            if (workflow and ref.workflow != workflow) or (version and ref.version != version):
                continue
            row = self._row(ref)
            if row is not None and (status is None or row.status == status):
                yield row

    def _row(self, ref: RunRef) -> RunInfo | DamagedRun | None:
        try:
            return self._state(ref.id, tasks=False)
        except LookupError:
            return None  # listed by a start that did not finish
        except RunDamaged as error:
            found = {"file": error.path, "line": error.line}
            details = {key: value for key, value in found.items() if value is not None}
            failure = {**describe(error), **details}
            return DamagedRun(id=ref.id, workflow=ref.workflow, version=ref.version, error=failure)

    async def query(
        self, query: RunQuery, *, after: str | None = None, limit: int | None = None
    ) -> builtins.list[RunInfo | DamagedRun]:
        """The runs `query` admits, newest first, damaged ones among them, starting past
        the run `after` (the last one of the page before); reads only the runs it
        returns or skips."""
        refs = self.store.list_runs()
        if after is not None:
            refs = itertools.dropwhile(lambda ref: ref.id != after, refs)
            next(refs, None)
        wanted = (ref for ref in refs if query.admits_ref(ref.workflow, ref.version))
        rows = (row for ref in wanted if (row := self._row(ref)) is not None)
        return list(islice((row for row in rows if query.admits(row)), limit))

    async def count_statuses(self, *, newest: int | None) -> dict[str, int]:
        """How many of the newest `newest` runs (None: all) are in each status
        (`damaged`: cannot be read), largest count first."""
        rows = await self.list_with_damaged(limit=newest)
        counts = Counter(str(row.status) for row in rows)
        return dict(counts.most_common())

    async def in_flight(self) -> dict[str, int]:
        """How many runs of each `name@version` have not ended: what still needs that
        version's code. Reads every run."""
        rows = await self.list()
        return dict(Counter(f"{r.workflow}@{r.version}" for r in rows if not r.status.terminal))

    async def pending(self, run_id: str) -> tuple[builtins.list[Mail], frozenset[str]]:
        """The mail the run has not read yet, and the requests (cancel, pause, wake)
        left for it."""
        return self.store.unread_mail(run_id), self.store.requests(run_id)

    async def wait(
        self, run_id: str, *, timeout: float | None = None, unattended: float | None = None
    ) -> RunInfo:
        """The run's state once it is completed, failed or cancelled; else `WaitTimeout`
        after `timeout` seconds, or `NoWorker` once no live worker has loaded the run's
        workflow for `unattended` seconds in a row."""
        deadline = None if timeout is None else time.monotonic() + timeout
        watch = None if unattended is None else _Unattended(self, unattended)
        delay = 0.005
        while True:
            info = await self.get(run_id)
            if info.status.terminal:
                return info
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise WaitTimeout(run_id, timeout or 0.0, info.status)
            if watch is not None:
                watch.check(info)
            await asyncio.sleep(delay if left is None else min(delay, left))
            delay = min(delay * 1.5, 0.2)

    async def cancel(self, run_id: str) -> RunInfo:
        """Cancel a run and its descendants: now if no worker executes it, else at its next
        task boundary. Cancelling a cancelled run does nothing; an ended one cannot be."""
        commands.cancel(self.store, self.clock, run_id)
        return await self.get(run_id)

    async def pause(self, run_id: str) -> RunInfo:
        """Pause a run: it is not executed until resumed."""
        commands.pause(self.store, self.clock, run_id)
        return await self.get(run_id)

    async def resume(self, run_id: str) -> RunInfo:
        commands.resume(self.store, self.clock, run_id)
        return await self.get(run_id)

    async def wake(self, run_id: str) -> RunInfo:
        """End a sleeping run's sleep now."""
        commands.wake(self.store, run_id)
        return await self.get(run_id)

    async def retry(self, run_id: str) -> RunInfo:
        """Run a failed or cancelled run again under its id, completed tasks memoized."""
        commands.retry(self.store, self.clock, run_id)
        return await self.get(run_id)

    async def send(
        self,
        run_id: str,
        event: str,
        data: Any = None,
        *,
        reference_id: str | None = None,
        version: WorkflowVersion | None = None,
    ) -> bool:
        """Send an event to a run; False when `reference_id` was sent to it before.

        With the run's `version`, data is validated by the model it declares for `event`.
        """
        codec = version.events.get(event) if version is not None else None
        payload = (
            codec.encode(data)
            if codec is not None
            else Codec(None, f"data of event {event!r}").encode(data)
        )
        return commands.send(self.store, self.clock, run_id, event, payload, reference_id)

    def workers_alive(self) -> bool:
        return bool(self.store.live_workers())

    def serving(self, ref: str) -> bool:
        """Whether a live worker loads the workflow version `ref` (`name@version`), as its
        registration says; one whose registration cannot be read yet counts as loading it."""
        return any(ref in worker.get("workflows", [ref]) for worker in self.store.live_workers())


class RunHandle:
    """A run started (or looked up) through a client: its status, its result, and the way
    to cancel it or send it events."""

    def __init__(self, client: Client, run_id: str, version: WorkflowVersion | None = None):
        self.client = client
        self.id = run_id
        self.version = version  # known when started here: event data is validated by it

    def __repr__(self) -> str:
        return f"<run handle {self.id}>"

    async def get_status(self) -> RunInfo:
        """The run's current state (`.status`, `.result`, `.error`, `.tasks`, …)."""
        return await self.client.get(self.id)

    async def wait_for_completion(self, timeout: float | None = None) -> Any:
        """The run's result once it completes; `RunFailed`, `RunCancelled` or `WaitTimeout`."""
        info = await self.client.wait(self.id, timeout=timeout)
        info.raise_for_outcome()
        return info.result

    async def cancel(self) -> RunInfo:
        """Cancel the run (at its next task boundary if it is executing)."""
        return await self.client.cancel(self.id)

    async def send(self, event: str, data: Any = None, *, reference_id: str | None = None) -> bool:
        """Send an event to the run; False when `reference_id` was sent before."""
        return await self.client.send(
            self.id, event, data, reference_id=reference_id, version=self.version
        )


class _Unattended:
    """Watches a run that is waited for: `NoWorker` once no live worker has loaded its
    workflow for `limit` seconds in a row. Workers are looked up at most once a second."""

    LOOK_EVERY = 1.0

    def __init__(self, client: Client, limit: float) -> None:
        self.client = client
        self.limit = limit
        self.seen = time.monotonic()  # when a worker loading the workflow was last seen
        self.present = False  # whether the last look saw one
        self.look_at = 0.0

    def check(self, info: RunInfo) -> None:
        now = time.monotonic()
        ref = f"{info.workflow}@{info.version}"
        if now >= self.look_at:
            self.look_at = now + self.LOOK_EVERY
            self.present = self.client.serving(ref)
            if self.present:
                self.seen = now
        if not self.present and now - self.seen >= self.limit:
            raise NoWorker(info.id, ref, self.limit, info.status)


def _check_key(key: str | None) -> None:
    if key is None:
        return
    try:
        check_text("an idempotency key", key, MAX_KEY_LENGTH)
    except (ValueError, AttributeError) as error:
        raise BadInput(
            str(error) if isinstance(error, ValueError) else "an idempotency key is text"
        ) from None


def _delay(value: float | str | timedelta) -> timedelta:
    try:
        return parse_duration(value, "the delay")
    except ValueError as error:
        raise BadInput(str(error)) from None


def _check_same_start(stored: RunSpec, spec: RunSpec) -> None:
    key = spec.idempotency_key or ""
    if stored.version != spec.version:
        raise IdempotencyConflict(key, stored.id, f"version ({stored.version})")
    if input_hash(stored.input) != input_hash(spec.input):
        raise IdempotencyConflict(key, stored.id, "input")
