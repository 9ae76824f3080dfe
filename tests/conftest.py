"""Shared fixtures: a fixed clock for unit tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest


class FixedClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()
