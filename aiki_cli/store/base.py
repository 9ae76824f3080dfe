"""The store contract: the domain operations the engine, the worker and the client need.

This is the page to read before writing a store. `FileStore` (a directory of JSON files,
`store.files`) is the default; `MemoryStore` (`store.memory`) ships for tests. Both pass
one contract suite (`tests/store/`); a database-backed store for workers on many hosts
implements the same two protocols, joins the suite's fixtures, and nothing else changes.

What callers rely on, besides each method's result (all errors are in `aiki_cli.errors`):

- `InvalidRunId` (a `BadInput`, exit 2) for a run id that is not one, before any access.
- `RunNotFound` (a `LookupError`, exit 4) for a well-formed id no run has.
- `RunDamaged` (exit 1) when a run's stored records cannot be read (a journal line that
  is no entry, a start record that does not parse, a file that is not a file). The client
  reports it; a worker marks the run damaged and goes on with the others. `NewerFormat`,
  a `RunDamaged`, when they were written by a newer aiki: workers leave such a run alone.
- `StoreUnwritable` (exit 1) when the store refuses a write (a full disk, a read-only
  mount, no permission): it names the store and what to free. A store that cannot fail
  to write (memory) never raises it.
- None from `claim` when another worker holds the run: no error, the caller moves on.
- `RunExists` (a `BadInput`) from `import_run` when the id is taken; `RunClaimed` from
  `remove_run` when a worker holds the run.
"""

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

from ..errors import AikiError, BadInput, NotFound, RunDamaged, StoreUnwritable
from ..model.entry import Entry
from ..model.export import RunExport
from ..model.mail import REQUESTS as REQUESTS
from ..model.mail import Mail as Mail
from ..model.mail import Request as Request
from ..model.runinfo import RunInfo, RunSpec
from ..model.schedule import Schedule
from .report import Report


class Timer(NamedTuple):
    """A due time in the timer index: a run to wake, or a schedule to fire."""

    due: datetime
    kind: Literal["run", "schedule"]
    target: str


class RunRef(NamedTuple):
    """A run as the creation index lists it."""

    id: str
    workflow: str
    version: str


class Claim(Protocol):
    """The exclusive right to execute one run and write its journal, until `release`."""

    spec: RunSpec
    entries: list[Entry]
    queued: bool
    """Whether the run was in the ready queue when the claim was taken: a worker executes
    only a queued run (one parked or ended since it was listed is not to be woken)."""

    @property
    def inbox(self) -> list[Mail]:
        """The run's first look at its mail: `mail()` as of the claim (a database reads it
        with the claim, in the same round trip) or of this attribute's first use. Mail
        sent later waits for `mail()`, or keeps the run queued for its next claim."""
        ...

    @property
    def requested(self) -> frozenset[str]:
        """The run's first look at its requests, of every kind: `requests()` as of the
        claim or of this attribute's first use. `requests()` looks again."""
        ...

    def append(self, *entries: Entry, sync: bool = True) -> None:
        """Add entries to the journal; with `sync`, durably by the next `flush`.
        Raises `StoreUnwritable`, leaving the journal as it was."""
        ...

    def append_unless(
        self, kinds: Iterable[Request], *entries: Entry, sync: bool = False, flush: bool = False
    ) -> frozenset[str]:
        """Look for requests of `kinds` and, only when there is none, append `entries`
        (as `append(..., sync=sync)`): at once, one round trip on a database. The
        requests found. A task's start does this, so that its look at the boundary costs
        nothing of its own, and so does a run's end, looking for a cancel that landed
        during its last task. With `flush`, the claim is flushed too, with it where the
        store can (a lone run's step: no round trip of its own for its flush either)."""
        ...

    @property
    def unsynced(self) -> bool:
        """True while entries appended with `sync` wait for a `flush`."""
        ...

    def flush(self) -> None:
        """Make the entries appended with `sync` durable. Every other method that acts
        outside the journal (requests, mail, the queue, timers, `release`) flushes first.
        Raises `StoreUnwritable`; so does every method below that changes the store."""
        ...

    def requests(self, kinds: Iterable[Request] = REQUESTS) -> frozenset[str]:
        """The requests of `kinds` (cancel, pause, wake) other processes left for the run;
        looking for fewer kinds costs less."""
        ...

    def clear_request(self, kind: Request) -> None: ...

    def mail(self) -> list[Mail]:
        """Mail not yet acknowledged, oldest first. `RunDamaged` when a letter is not one
        (it was not written by a store)."""
        ...

    def ack(self, mail: Mail) -> None:
        """Mail now journaled: remove it (its reference id stays known, for de-duplication)."""
        ...

    def set_ready(self, ready: bool, *, at_release: bool = False) -> None:
        """Put the run in the ready queue, or take it out. Out `at_release` may wait for
        the claim's release (or its next call before that): a database sends it with
        that call's query. Mail or a request arriving meanwhile is then left with the run
        out of the queue, so the engine takes out so only runs that ended or paused,
        which a worker would not execute for either."""
        ...

    def set_timer(self, due: datetime | None) -> None:
        """Wake the run at `due` (replacing its previous due time), or never."""
        ...

    def leave_queue(self) -> None:
        """Take the parked run out of the ready queue, unless requests or mail wait for it.
        Nothing can be lost: a process dying midway leaves the run queued, and a request or
        mail arriving meanwhile queues it again."""
        ...

    def release(self) -> None:
        """Flush, then give the run up for another worker to claim; releasing twice does
        nothing (a later claim stays held)."""
        ...


class PlainLooks:
    """`Claim.inbox`, `Claim.requested` and `Claim.append_unless` for a store whose looks
    cost no round trip: the claim's own `mail()`, `requests()` and `append`, the first
    two at their first use."""

    @functools.cached_property
    def inbox(self) -> list[Mail]:
        return self.mail()

    @functools.cached_property
    def requested(self) -> frozenset[str]:
        return self.requests()

    def append_unless(
        self, kinds: Iterable[Request], *entries: Entry, sync: bool = False, flush: bool = False
    ) -> frozenset[str]:
        found = self.requests(kinds)
        if not found:
            self.append(*entries, sync=sync)
            if flush:
                self.flush()
        return found

    def flush(self) -> None:
        raise NotImplementedError  # the claim's own

    def append(self, *entries: Entry, sync: bool = True) -> None:
        raise NotImplementedError  # the claim's own

    def mail(self) -> list[Mail]:
        raise NotImplementedError  # the claim's own

    def requests(self, kinds: Iterable[Request] = REQUESTS) -> frozenset[str]:
        raise NotImplementedError  # the claim's own


Taken = Claim | None | AikiError  # what `Store.claim_many` gives for each run


def claim_each(store: "Store", run_ids: Sequence[str], *, queued_only: bool = False) -> list[Taken]:
    """`Store.claim_many` for a store whose claims cost no round trip: one at a time."""
    taken: list[Taken] = []
    for run_id in run_ids:
        try:
            taken.append(store.claim(run_id, queued_only=queued_only))
        except (BadInput, NotFound, RunDamaged, StoreUnwritable) as error:
            taken.append(error)
    return taken


def release_each(releases: Iterable[Callable[[], None]]) -> None:
    """Call every release; the first `StoreUnwritable` is raised once all were made."""
    failed: StoreUnwritable | None = None
    for release in releases:
        try:
            release()
        except StoreUnwritable as error:
            failed = failed or error
    if failed is not None:
        raise failed


@runtime_checkable
class Store(Protocol):
    """Where runs, their journals, the queue, timers, schedules and workers are kept;
    `location` names it in messages (a directory, ':memory:')."""

    location: str

    def create_run(self, spec: RunSpec) -> RunSpec:
        """Store a new pending run and queue it; if its idempotency key already started a
        run, store nothing and return that run's spec instead. `StoreUnwritable` when the
        run could not be stored (what it wrote is taken back); `RunDamaged` when the run its key
        names cannot be read."""
        ...

    def create_runs(self, specs: Sequence[RunSpec]) -> None:
        """Store new pending runs and queue them, as `create_run` each, with fewer trips to
        the disk; none of `specs` has an idempotency key. Each run is stored whole or not
        at all; `StoreUnwritable` when they could not all be stored (what was written is
        taken back)."""
        ...

    def read_run(self, run_id: str) -> tuple[RunSpec, list[Entry]]:
        """The run's start record and its journal. `RunNotFound`; `RunDamaged` (or
        `NewerFormat`) when either cannot be read; a journal's torn last line (a write a
        crash cut short) is not damage: it is left out."""
        ...

    def read_summary(self, run_id: str, *, tasks: bool = True) -> RunInfo:
        """The run's state as its journal tells it (without `cancel_requested`); without
        `tasks`, with no task calls. A store may keep a summary to fold only the entries
        appended since. Raises as `read_run`."""
        ...

    def read_since(self, run_id: str, cursor: int = 0) -> tuple[RunSpec, list[Entry], int]:
        """The run's start record, the journal entries appended after `cursor` (0: all of
        them), and the cursor to pass next time: following a run costs what was appended
        since the last read, not the whole journal. A cursor is only ever one this method
        returned for the run (the file store: a byte offset; memory: an entry count; a
        database: the last `seq`). A line still being written (or torn) is left for a
        later read. Raises as `read_run`."""
        ...

    def list_runs(self) -> Iterator[RunRef]:
        """Every run, newest first, without reading any run's files."""
        ...

    def ready_runs(self) -> list[str]:
        """Ids of the runs waiting for a worker (pending, or running with a dead worker)."""
        ...

    def is_ready(self, run_id: str) -> bool:
        """Whether the run is still in `ready_runs`: cheaper than listing them again."""
        ...

    def claim(self, run_id: str, *, queued_only: bool = False) -> Claim | None:
        """The run's claim, or None when another worker holds it (or its start is still
        being stored, or it lost its idempotency key to another run, which a worker must
        not execute). `RunNotFound`; `RunDamaged` or `NewerFormat` when its records cannot
        be read (the run is then not held); `StoreUnwritable`. With `queued_only`, also
        None (nothing held) when the run is not in the ready queue, as a run that does
        not exist is not: a worker's look at a listing gone stale, made with the claim
        where the store can (once held, the claim's `queued` still decides)."""
        ...

    def claim_many(self, run_ids: Sequence[str], *, queued_only: bool = False) -> list[Taken]:
        """`claim` for each run, in order: its claim, None, or the error that `claim`
        would raise for that run alone (`InvalidRunId`, `RunNotFound`, `RunDamaged`,
        `StoreUnwritable` of its own records). One round trip on a database, however
        many runs. Raises what fails them all (`StoreUnreachable`), holding none."""
        ...

    def release_many(self, claims: Sequence[Claim]) -> None:
        """`release` every claim, at once: one round trip on a database for the claims
        that wait for no flush (a worker's runs that ended together, flushed together).
        A failed flush's `StoreUnwritable` is raised once every claim is let go."""
        ...

    def flush_together(self, claims: list[Claim]) -> bool:
        """Flush claims of this store all at once, if the store can do that for less than
        a flush each; False when it cannot, and nothing was done."""
        ...

    def request(self, run_id: str, kind: Request) -> None:
        """Leave a request for whoever executes the run, and queue it so one does.
        `RunNotFound`; `StoreUnwritable`."""
        ...

    def requests(self, run_id: str) -> frozenset[str]:
        """The requests left for the run. `RunNotFound`."""
        ...

    def post(self, run_id: str, mail: Mail) -> bool:
        """Leave mail for the run and queue it; False (and nothing stored) when mail with
        the same key was posted before. Mail still unread queues the run again, since its
        first poster may have died before queueing it. `RunNotFound`; `StoreUnwritable`."""
        ...

    def unread_mail(self, run_id: str) -> list[Mail]:
        """Mail posted to the run that it has not read yet, in the order it was sent.
        Reads only. `RunNotFound`; `RunDamaged` when a letter cannot be read."""
        ...

    def posted(self, run_id: str, key: str) -> bool:
        """Whether mail with `key` was posted to the run: unread, or acknowledged with a
        reference id. Reads only; works whatever the run's status. `RunNotFound`."""
        ...

    def mark_ready(self, run_id: str) -> None:
        """Queue the run for a worker. `RunNotFound`; `StoreUnwritable`."""
        ...

    def due_timers(self, now: datetime) -> list[Timer]:
        """Timers due at `now`, earliest first, reading only the index's due part."""
        ...

    def clear_timer(self, timer: Timer) -> None:
        """Remove the timer from the index; nothing when it is not there."""
        ...

    def next_due(self) -> datetime | None:
        """The earliest due time in the timer index."""
        ...

    def save_schedule(self, schedule: Schedule) -> None:
        """Store a schedule (replacing one with its id) and index its next due time."""
        ...

    def schedule(self, schedule_id: str) -> Schedule | None:
        """The schedule with that id, read alone; None when there is none."""
        ...

    def schedules(self) -> list[Schedule]: ...

    def remove_schedule(self, schedule_id: str) -> None:
        """Remove the schedule and its timer; nothing when there is none."""
        ...

    def rearm_schedules(self) -> list[str]:
        """Give every active schedule that has no timer (its save died midway, say) one at
        its next due time; the ids of those re-armed. Firing the same due time again
        starts nothing new: each occurrence's run has its own idempotency key."""
        ...

    def register_worker(self, worker_id: str, info: dict[str, Any]) -> AbstractContextManager[None]:
        """Announce a live worker for as long as the context is open. `RuntimeError` when
        a live worker has that id; `StoreUnwritable`."""
        ...

    def live_workers(self) -> list[dict[str, Any]]: ...

    def examine(self, *, repair: bool = False) -> Report:
        """What `aiki doctor` reports: every run read and checked against what is derived
        from it (the queue, timers, indexes, workers' registrations), each finding saying
        how to fix it. With `repair`, rebuild what is derived; a journal is never changed.
        Runs a live worker holds are left alone (listed as busy); a repair that fails says
        so in its finding."""
        ...

    def export_run(self, run_id: str) -> RunExport:
        """The run as one document: its spec, its whole journal (the entries as written,
        a torn last line left out), its unread mail, oldest first, and the requests left
        for it. Reads only; works whatever the run's status, and whoever holds it.
        `InvalidRunId`; `RunNotFound`; `RunDamaged` (or `NewerFormat`)."""
        ...

    def import_run(self, run: RunExport) -> None:
        """Store the run as it is: its spec, its journal (a file store writes each entry
        as the line the source wrote, byte for byte), mail and requests; queued when it
        is pending or running or has mail or requests waiting, else its timer set to its
        due time when it is parked; its idempotency key recorded and the reference ids of
        the events it received known, so repeated sends are refused as before.
        `RunExists` (and nothing written) when the store has a run with its id, or its
        key names another run; `StoreUnwritable` (what it wrote is taken back)."""
        ...

    def remove_run(self, run_id: str) -> None:
        """Remove an ended run and every trace of it: its records, its place in the queue,
        its timer, its listing and its idempotency key (a start with that key then starts
        a new run). Takes the run as a worker would, so it is safe while workers run.
        `RunClaimed` (nothing removed) when a worker holds it; `IllegalTransition` (a
        `BadInput`) when it has not ended; `InvalidRunId`; `RunNotFound`; `RunDamaged`
        when its records cannot be read; `StoreUnwritable`."""
        ...


@runtime_checkable
class ServedStore(Protocol):
    """What a store behind a database server (PostgreSQL) offers besides `Store`."""

    def migrate(self) -> tuple[int, int]:
        """Create or upgrade the store's tables; the schema versions before and after.
        Safe to run again, and from several hosts at once."""
        ...

    def watch(self, wake: Callable[[], None]) -> AbstractContextManager[None]:
        """While open, call `wake` (from another thread) soon after any process queues a
        run or sets a timer, so an idle worker need not poll often."""
        ...

    def close(self) -> None:
        """Close the store's connections; claims still held keep theirs."""
        ...
