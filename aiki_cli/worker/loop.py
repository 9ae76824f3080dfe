"""The worker: claims ready runs and executes them, many at once, until told to stop.

A worker holds a run's lock for as long as it executes it, so when a worker dies (even by
`kill -9`) the kernel drops its locks and any other worker takes its runs over at once.
It announces itself in the store while it lives, so `aiki start --wait` knows whether
to execute a run in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import timedelta

from ..authoring.threads import Pool, Threads
from ..authoring.workflow import Workflow, WorkflowVersion
from ..client import Client
from ..engine.execution import DEFAULT_MAX_RECOVERIES, RELEASE, Engine
from ..errors import (
    AikiError,
    BadInput,
    RunDamaged,
    StoreUnreachable,
    StoreUnwritable,
    WaitTimeout,
    one_line,
)
from ..model.entry import Entry, StatusChanged
from ..model.runinfo import RunInfo
from ..model.status import RunStatus
from ..store import Claim
from ..store.base import Taken
from ..store.group_commit import GroupCommit
from ..store.tail import Tail
from .limits import allow_open_files
from .listing import Listing
from .retention import Retention
from .timers import Timers
from .wakeups import Wakeups

log = logging.getLogger("aiki.worker")

# How long a run whose execution broke (a full disk, say) waits before a retry.
_BROKEN_RUN_BACKOFF = 5.0
# How often a damaged run is looked at again, in case someone repaired it.
_DAMAGED_RUN_RECHECK = 30.0
# A worker holds up to this many runs per slot of `concurrency`: one executing its code,
# one waiting for the sync of its journal (see `_room`).
_HELD_PER_SLOT = 2


def registry_of(workflows: Iterable[Workflow | WorkflowVersion]) -> dict[str, WorkflowVersion]:
    """Workflow versions by `name@version`; a whole workflow brings all its versions."""
    registry: dict[str, WorkflowVersion] = {}
    for item in workflows:
        versions = item.versions.values() if isinstance(item, Workflow) else [item]
        registry.update((version.ref, version) for version in versions)
    return registry


class Worker:
    def __init__(
        self,
        client: Client,
        workflows: Iterable[Workflow | WorkflowVersion],
        *,
        concurrency: int = 10,
        poll_interval: float = 0.2,
        grace_period: float = 10.0,
        max_recoveries: int = DEFAULT_MAX_RECOVERIES,
        worker_id: str | None = None,
        retention: timedelta | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.client = client
        self.store = client.store
        self.registry = registry_of(workflows)
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.grace_period = grace_period
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.engine = Engine(
            self.registry,
            client.store,
            clock=client.clock,
            worker_id=self.id,
            max_recoveries=max_recoveries,
            stopping=lambda: self._stopping,
        )
        self._stopping = False
        self.abandoned = False
        self._active: dict[str, asyncio.Task[None]] = {}
        self._syncing: set[str] = set()  # runs of `_active` whose code has ended
        self._listing = Listing(self.store, poll_interval)
        self._releasing: list[Claim] = []  # runs let go, released at the loop's next turn
        self._reported: dict[str, str] = {}
        self._wake: asyncio.Event | None = None
        self._pool: Pool | None = None
        self._commit: GroupCommit | None = None
        self._family: set[str] | None = None  # when driving one run: it and its descendants
        self._driven: Tail | None = None  # when driving one run: its journal
        self.ended: Counter[RunStatus] = Counter()  # runs executed here to their end
        self.parked: dict[str, RunStatus] = {}  # runs executed here, left parked or pending
        self._timers = Timers(client, self.registry)
        self._wakeups = Wakeups(self.store, client.clock, poll_interval, self._heard)
        self.retention = None if retention is None else Retention(client, retention)

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def executing(self) -> list[str]:
        """The ids of the runs this worker holds now, executing or syncing their journal."""
        return list(self._active)

    def stop(self, *, now: bool = False) -> None:
        """Stop claiming; runs in flight stop at their next task boundary, or `now`.

        Runs stopped `now`, or still busy when the grace period ends, are put back in the
        queue and `abandoned` becomes True. A plain-function task of theirs may still be
        running in its thread, which Python cannot stop: the worker keeps such a run
        claimed until the thread returns, so that no other worker executes the task
        beside it. A program that exits at once (`os._exit`) lets it go sooner.
        """
        self._stopping = True
        if now:
            self.abandoned = self.abandoned or bool(self._active)
            for execution in self._active.values():
                execution.cancel(RELEASE)
        self._nudge()

    async def run(self, *, until_idle: bool = False, include_sleeping: float | None = None) -> None:
        """Execute ready runs until `stop()`, or (with `until_idle`) until none is ready or
        running here; parked runs wait for a later worker, except (with `include_sleeping`)
        those due to wake within that many seconds: sleeps, retries, delayed starts."""
        info = {"id": self.id, "pid": os.getpid(), "workflows": sorted(self.registry)}
        with self.store.register_worker(self.id, info), self._threads(), self._wakeups.watching():
            log.info("worker %s started on %s", self.id, self.store.location)

            async def idle(claimed: int) -> bool:
                busy = claimed or self._active or self._timers.wake_within(include_sleeping)
                return until_idle and not busy

            await self._serve(idle)
            log.info("worker %s stopped; %s", self.id, self.tally())

    async def _serve(self, done: Callable[[int], Awaitable[bool]]) -> None:
        """Fire timers and claim runs, pass after pass, until `done(claimed)` or `stop()`.
        A worker can serve again once this returns."""
        self._wake = asyncio.Event()
        self._stopping = False
        try:
            while not self._stopping:
                try:
                    problem = await self._timers.tend_unless_lost(schedules=self._family is None)
                    self._report("timers", problem)  # driving one run, it fires no schedules
                    claimed = self._fill()
                    if self.retention is not None and self._family is None:
                        self.retention.tend()  # in a thread: never between a claim and its flush
                    if await done(claimed):
                        break
                    pause = self._wakeups.reached(contended=self._listing.met)
                except StoreUnreachable as error:  # the database went: try again, later
                    pause = self._wakeups.lost(error)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), pause)
        finally:
            await self._shut_down()
            self._release_now()  # none is left held when serving ends
            if self.retention is not None:
                await self.retention.close()

    async def fire_timers(self) -> int:
        """Queue the runs whose due time has come and fire due schedules; how many."""
        return await self._timers.fire()

    @contextlib.contextmanager
    def _threads(self) -> Iterator[None]:
        """The threads, and the open files, that executing `concurrency` runs needs."""
        allow_open_files(self.concurrency, held=_HELD_PER_SLOT * self.concurrency)
        self._pool = Pool(max(4, self.concurrency))
        if self.concurrency > 1:
            self._commit = GroupCommit(self.store.flush_together, self._active.__len__)
        try:
            yield
        finally:
            self._pool.close()
            self._pool = None
            if self._commit is not None:
                self._commit.close()
                self._commit = None

    def _fill(self) -> int:
        """Claim ready runs up to the concurrency limit, as many at once as there is room
        for (one round trip on a database); how many were claimed."""
        self._release_now()  # this session's claims would refuse runs it still holds
        claimed = 0
        listed = False
        if self._listing.stale() and self._room():  # none stale before use
            self._listing.relist()
            listed = True
        while (room := self._room()) and not self._stopping:
            run_ids = self._listing.take(room, self._active)
            if not run_ids:
                if listed:
                    break
                self._listing.relist()
                listed = True
                continue
            # Another worker may have executed them since the listing: only if still queued.
            for claim in self._claim(run_ids, queued_only=self._listing.met or not listed):
                self._active[claim.spec.id] = asyncio.create_task(self._execute(claim))
                claimed += 1
        return claimed

    def _room(self) -> int:
        """Room for more runs: fewer than `concurrency` runs execute code. A run whose
        code has ended waits for the sync of its journal without a slot, so other runs
        execute while the disk syncs; at most `concurrency` runs wait so, those whose
        release waits for the loop's next turn among them."""
        executing = len(self._active) - len(self._syncing)
        held = len(self._active) + len(self._releasing)
        return max(0, min(self.concurrency - executing, _HELD_PER_SLOT * self.concurrency - held))

    def _claim(self, run_ids: list[str], queued_only: bool) -> list[Claim]:
        try:
            taken = self.store.claim_many(run_ids, queued_only=queued_only)
        except StoreUnwritable as error:
            for run_id in run_ids:
                self._skip(run_id, error)
            return []
        kept = (self._kept(run_id, claim) for run_id, claim in zip(run_ids, taken, strict=True))
        return [claim for claim in kept if claim is not None]

    def _kept(self, run_id: str, claim: Taken) -> Claim | None:
        """The claim, if this worker is to execute its run; else None, the run let go."""
        if isinstance(claim, BadInput):  # not a run id: a stray name in the store's queue
            self._report(run_id, f"skipping {run_id!r} in the queue: {claim}")
            self._listing.pass_over(run_id, math.inf)
            return None
        if isinstance(claim, AikiError):  # damaged, gone, or its records unwritable
            self._skip(run_id, claim)
            return None
        if claim is None:  # another worker holds it, or executed it since the listing
            self._listing.scatter()
            return None
        if not claim.queued:  # parked or ended since it was listed: a kill
            claim.release()  # midway would leave it running out of the queue, stranded
            return None
        if self._family is not None:
            if claim.spec.id not in self._family and claim.spec.parent_id not in self._family:
                claim.release()  # driving one run: leave the others to workers
                return None
            self._family.add(claim.spec.id)
            if self._driven is not None:
                self._driven.hold(claim)  # its entries spare reading the journal back
        if claim.spec.ref not in self.registry:
            log.warning("skipping run %s: this worker does not load %s", run_id, claim.spec.ref)
            self._listing.pass_over(run_id, math.inf)
            claim.release()
            return None
        return claim

    def _skip(self, run_id: str, error: Exception) -> None:
        """Say once why the run is passed over, and look at it again later: a damaged
        run after a while (someone may repair it), others after a short backoff."""
        self._report(run_id, f"skipping run {run_id}: {error}")
        wait = _DAMAGED_RUN_RECHECK if isinstance(error, RunDamaged) else _BROKEN_RUN_BACKOFF
        self._listing.pass_over(run_id, wait)

    async def _execute(self, claim: Claim) -> None:
        run_id = claim.spec.id
        assert self._pool is not None
        threads = self._pool.threads(alone=lambda: len(self._active) < 2)
        known = len(claim.entries)
        try:
            status = await self.engine.execute(
                claim, threads, self._commit, lambda: self._code_ended(run_id)
            )
            self._count(run_id, status)
            self._reported.pop(run_id, None)
            if status == RunStatus.FAILED and self._family is None:
                _log_failure(claim, claim.entries[known:])
        except StoreUnwritable as error:  # the machine's failure: the run waits, unharmed
            self._report(
                run_id, f"run {run_id} stopped: {error}; retrying every {_BROKEN_RUN_BACKOFF:g}s"
            )
            self._listing.pass_over(run_id, _BROKEN_RUN_BACKOFF)
        except RunDamaged as error:  # a file found midway (a letter): as when claiming
            self._skip(run_id, error)
        except Exception:
            log.exception(
                "run %s: execution broke; trying again in %gs", run_id, _BROKEN_RUN_BACKOFF
            )
            self._listing.pass_over(run_id, _BROKEN_RUN_BACKOFF)
        finally:
            self._let_go(claim, threads)
            self._syncing.discard(run_id)
            self._active.pop(run_id, None)
            self._nudge()

    def _let_go(self, claim: Claim, threads: Threads) -> None:
        """Release the run, unless a task body of it still runs in a thread: then once the
        body returns (or the process exits), lest another worker execute it beside it."""
        busy = threads.running()
        if busy and threads.when_idle(lambda: self._release([claim])):
            self.abandoned = True
            log.info(
                "run %s: task %s still runs in a thread; the run stays claimed until it "
                "returns or this process exits",
                claim.spec.id,
                ", ".join(repr(task) for task in busy),
            )
        else:
            self._release_soon(claim)

    def _release_soon(self, claim: Claim) -> None:
        """Release the claim with the others let go in this turn of the event loop (runs
        whose group flush ended together): one round trip on a database."""
        self._releasing.append(claim)
        if len(self._releasing) == 1:
            asyncio.get_running_loop().call_soon(self._release_now)

    def _release_now(self) -> None:
        claims, self._releasing = self._releasing, []
        if claims:
            self._release(claims)

    def _release(self, claims: list[Claim]) -> None:
        """Release claims: on the event loop, or from the thread of the last task body of
        their run to return."""
        try:
            self.store.release_many(claims)
        except StoreUnwritable as error:  # the locks are let go even so
            log.error("runs %s: %s", ", ".join(claim.spec.id for claim in claims), error)

    def tally(self) -> str:
        """What the worker ran, in a few words: each run once, by the status it left it in."""
        counts = self.ended + Counter(self.parked.values())
        ran = sum(counts.values())
        if not ran:
            return "ran no runs"
        parts = [f"{counts[status]} {status}" for status in RunStatus if counts[status]]
        return f"ran {ran} run{'s' if ran != 1 else ''}: " + ", ".join(parts)

    def _count(self, run_id: str, status: RunStatus) -> None:
        """Count what executing the run here left it in: each run once, by its last status."""
        self.parked.pop(run_id, None)
        if status.terminal:
            self.ended[status] += 1
        else:
            self.parked[run_id] = status

    def _code_ended(self, run_id: str) -> None:
        self._syncing.add(run_id)
        self._nudge()  # its slot is free: claim the next run

    def _heard(self) -> None:
        """The store told of a run queued or a timer set: list the queue on the next pass."""
        self._listing.expire()
        self._nudge()

    def _nudge(self) -> None:
        """Have the serving loop make its next pass now, not at the next poll."""
        if self._wake is not None:
            self._wake.set()

    def _report(self, key: str, message: str | None) -> None:
        """Log a problem once, not on every pass for as long as it lasts (None: it ended)."""
        if message is None:
            self._reported.pop(key, None)
        elif self._reported.get(key) != message:
            self._reported[key] = message
            log.error("%s", message)

    async def _shut_down(self) -> None:
        """Give runs in flight the grace period, then cancel them back into the queue."""
        self._stopping = True
        if not self._active:
            return
        _, late = await asyncio.wait(set(self._active.values()), timeout=self.grace_period)
        self.abandoned = self.abandoned or bool(late)
        for task in late:
            task.cancel(RELEASE)
        await asyncio.gather(*late, return_exceptions=True)

    async def drive(self, run_id: str, *, timeout: float | None = None) -> RunInfo:
        """Execute one run, and the children it starts, in this process until it ends or
        pauses (used by `aiki start --wait`).

        After `timeout` seconds the runs go back to the queue, `abandoned` is set, and
        `WaitTimeout` is raised.
        """
        self._family = {run_id}
        tail = self._driven = self.client.tail(run_id)

        async def ended(claimed: int) -> bool:
            # While its code executes here, the run has not ended; once it stops, its
            # journal is the claim's, or read from where the last look stopped.
            return run_id not in self._active and tail.idle()

        with self._threads():
            driving = asyncio.ensure_future(self._serve(ended))
            done, _ = await asyncio.wait({driving}, timeout=timeout)
            if driving not in done:
                info = await self.client.get(run_id)
                self.stop(now=True)
                await asyncio.gather(driving, return_exceptions=True)
                raise WaitTimeout(run_id, timeout or 0.0, info.status)
            driving.result()
        ended_here = tail.ended()
        return ended_here if ended_here is not None else await self.client.get(run_id)


def _log_failure(claim: Claim, new_entries: list[Entry]) -> None:
    """One line for a run that failed in this execution (`start --wait` says so itself,
    so only when serving)."""
    ends = [e for e in new_entries if isinstance(e, StatusChanged) and e.new == RunStatus.FAILED]
    if not ends:
        return  # it had failed before: a takeover only told its parent
    error = ends[-1].error
    reason = f"{error.type}: {error.message}" if error is not None else "no error recorded"
    log.warning(
        "run %s (%s) failed: %s; `aiki status %s` shows where",
        claim.spec.id,
        claim.spec.ref,
        one_line(reason),
        claim.spec.id,
    )
