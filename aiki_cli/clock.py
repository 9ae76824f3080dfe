"""Time as the engine sees it: passed in, never patched, so tests can control it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
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
        await asyncio.sleep(seconds)


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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
