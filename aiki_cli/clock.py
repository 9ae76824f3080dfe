"""Time as the engine sees it: passed in, never patched, so tests can control it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
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
