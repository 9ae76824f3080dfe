"""Fixtures of the reliability tier: its tests start real `aiki` processes through the
integration tier's harness, and each test's processes die with it, however it ends.

The tests of `ON_EVERY_STORE` run once per store of `STORES` (`tests/stores.py`): the
kill soak and the four workers hold every store to the same invariants. The others attack
the file store's own files (torn, hostile, damaged, a full disk) and run on it alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import stores

from ..integration.harness import Processes

STORES = ["file", "postgresql"]
ON_EVERY_STORE = {
    "test_workers_killed_at_random_moments_lose_nothing_and_repeat_nothing",
    "test_four_workers_and_concurrent_starts_cancels_and_sends_lose_nothing",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.function.__name__ in ON_EVERY_STORE:
        stores.parametrize(metafunc, STORES)


@pytest.fixture
def processes() -> Iterator[Processes]:
    started = Processes()
    try:
        yield started
    finally:
        started.kill_all()
