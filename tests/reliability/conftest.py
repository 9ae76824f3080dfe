"""Fixtures of the reliability tier: its tests start real `aiki` processes through the
integration tier's harness, and each test's processes die with it, however it ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..integration.harness import Processes


@pytest.fixture
def processes() -> Iterator[Processes]:
    started = Processes()
    try:
        yield started
    finally:
        started.kill_all()
