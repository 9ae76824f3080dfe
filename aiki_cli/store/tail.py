"""Following one run's journal as it grows: each read costs the entries appended since the
last one (the store's `read_since`), and a running fold keeps the run's state, so waiting
for a long run, or following it live, never reads its whole history again.

A process that executes the run itself (`aiki start --wait`) holds its journal already:
given the claim (`hold`), the tail folds the claim's entries instead of reading them back,
once they are all durable (nothing the claim appended waits for a flush)."""

from __future__ import annotations

from ..model.entry import Entry
from ..model.journal import Fold
from ..model.runinfo import RunInfo, RunSpec
from .base import Claim, Store


class Tail:
    """The journal of run `run_id` read so far, and the state it folds to."""

    def __init__(self, store: Store, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.cursor = 0
        self._read = 0  # entries the store gave up to `cursor`
        self._folded = 0  # entries folded, read or held: never fewer than `_read`
        self._fold: Fold | None = None
        self._held: Claim | None = None

    def hold(self, claim: Claim) -> None:
        """This process claimed the run (a claim of another run is ignored): its entries,
        the whole journal, stand for a read once they are durable."""
        if claim.spec.id == self.run_id:
            self._held = claim

    def read(self) -> list[Entry]:
        """The entries appended since the last read (all of them at the first), folded."""
        held = self._held
        if held is not None and not held.unsynced:
            return self._feed(held.spec, held.entries[self._folded :])
        spec, entries, self.cursor = self.store.read_since(self.run_id, self.cursor)
        skip = self._folded - self._read  # folded from a claim already
        self._read += len(entries)
        return self._feed(spec, entries[skip:])

    def _feed(self, spec: RunSpec, entries: list[Entry]) -> list[Entry]:
        if self._fold is None:
            self._fold = Fold.start(spec)
        self._fold.feed_all(entries)
        self._folded += len(entries)
        return entries

    @property
    def info(self) -> RunInfo:
        """The run's state as of the last read (without `cancel_requested`); reads once
        if nothing was read yet. The same object, updated, after later reads."""
        if self._fold is None:
            self.read()
        assert self._fold is not None
        return self._fold.result()

    def idle(self) -> bool:
        """Read, and whether the run now waits for nothing this process does: it ended,
        parked or was paused."""
        self.read()
        return self.info.status.idle

    def ended(self) -> RunInfo | None:
        """Read, and the run's state if it ended; None if it has not."""
        self.read()
        return self.info if self.info.status.terminal else None
