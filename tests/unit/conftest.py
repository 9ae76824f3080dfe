"""Fixtures of the unit tier: a clock that moves only when a test tells it to, and the
stores of `STORES` (`tests/stores.py`) for the engine tests that take the `store` fixture
(the others use the memory store)."""

from __future__ import annotations

import pytest

from aiki_cli.testing import ManualClock
from tests import stores

STORES = ["file", "postgresql"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    stores.parametrize(metafunc, STORES)


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    return stores.kind(request, STORES)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()
