"""Time as the engine sees it: passed in, never patched, so tests can control it."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, UTC-aware."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Let `seconds` pass (a test clock just moves on)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        import asyncio  # here: a client that only reads runs needs no event loop

        await asyncio.sleep(seconds)


# For tests: the name of a file holding seconds by which this process's wall clock is set
# (read at every look), so that a test can set one worker's clock forward and back.
SHIFT_VARIABLE = "AIKI_CLOCK_SHIFT_FILE"


class ShiftedClock(SystemClock):
    """The system clock, set forward or back by the seconds written in a file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def now(self) -> datetime:
        try:
            shift = float(self.path.read_text() or 0)
        except (OSError, ValueError):
            shift = 0.0
        return super().now() + timedelta(seconds=shift)


def system_clock() -> Clock:
    """The machine's clock; shifted as `SHIFT_VARIABLE` says, when it is set (tests)."""
    shift_file = os.environ.get(SHIFT_VARIABLE)
    return ShiftedClock(Path(shift_file)) if shift_file else SystemClock()


# How far the wall clock may drift from the monotonic clock between two looks before it
# counts as set (NTP slews far slower than this).
JUMP = timedelta(seconds=1)


class JumpWatch:
    """Notices the wall clock being set back: its lead over the monotonic clock, which only
    moves forward at the pace of real time, shrinking by more than `JUMP`."""

    def __init__(self, clock: Clock, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._monotonic = monotonic
        self._lead: timedelta | None = None

    def set_back(self) -> bool:
        """True when the wall clock went back since the last look."""
        lead = self._clock.now() - _EPOCH - timedelta(seconds=self._monotonic())
        last, self._lead = self._lead, lead
        return last is not None and lead < last - JUMP


def set_back(began: datetime, now: datetime) -> bool:
    """Whether a wait that `began` then was timed by a wall clock set back since (it began
    after `now`). Such a wait never lies further ahead than its length: a sleep or an event
    timeout begins again at `now`, a retry or a delayed start is due at once."""
    return began > now + JUMP


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
