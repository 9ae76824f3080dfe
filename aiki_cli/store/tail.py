"""Following one run's journal as it grows: each read costs the entries appended since the
last one (the store's `read_since`), and a running fold keeps the run's state, so waiting
for a long run, or following it live, never reads its whole history again."""

from __future__ import annotations

from ..model.entry import Entry
from ..model.journal import Fold
from ..model.runinfo import RunInfo
from .base import Store


class Tail:
    """The journal of run `run_id` read so far, and the state it folds to."""

    def __init__(self, store: Store, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.cursor = 0
        self._fold: Fold | None = None

    def read(self) -> list[Entry]:
        """The entries appended since the last read (all of them at the first), folded."""
        spec, entries, self.cursor = self.store.read_since(self.run_id, self.cursor)
        if self._fold is None:
            self._fold = Fold.start(spec)
        for entry in entries:
            self._fold.feed(entry)
        return entries

    @property
    def info(self) -> RunInfo:
        """The run's state as of the last read (without `cancel_requested`); reads once
        if nothing was read yet. The same object, updated, after later reads."""
        if self._fold is None:
            self.read()
        assert self._fold is not None
        return self._fold.result()
