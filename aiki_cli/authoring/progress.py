"""`run.progress(...)`: the progress entries a workflow journals, once each.

A progress entry is no call: replay returns nothing for it and matches nothing against
it. A replayed run's code says its progress again; the n-th `progress` of the code is the
n-th progress entry of the journal, so one already journaled is not journaled twice, and
a message that changed since (new code) is neither journaled nor a divergence.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime

from ..model.entry import Entry, Progress
from ..values.naming import check_text

MAX_MESSAGE = 1000  # characters: a line for people, not a place for data


class ProgressBook:
    """How many progress entries the journal holds, and how many the code has said."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self.recorded = sum(isinstance(entry, Progress) for entry in entries)
        self.said = 0

    def say(self, at: datetime, message: str, fraction: float | None) -> Progress | None:
        """The entry to journal for the code's next `progress`; None when replayed.
        ValueError for a message that is not text, or a fraction outside 0 to 1."""
        check_text("a progress message", message, MAX_MESSAGE)
        if fraction is not None and not (
            isinstance(fraction, int | float) and math.isfinite(fraction) and 0 <= fraction <= 1
        ):
            raise ValueError(f"a progress fraction is a number from 0 to 1, not {fraction!r}")
        self.said += 1
        if self.said <= self.recorded:
            return None
        return Progress(at=at, message=message, fraction=fraction)
