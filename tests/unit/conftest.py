"""Fixtures of the unit tier: a clock that moves only when a test tells it to."""

from __future__ import annotations

import pytest

from aiki_cli.testing import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()
