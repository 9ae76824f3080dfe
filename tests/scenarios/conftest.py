"""The example workflow modules are importable by their file names, as the loader imports
them (`import thumbnails`), so these tests and `aiki worker` share one copy of each.

Each scenario takes the `store` fixture, so it runs on every store of `STORES`
(`tests/stores.py`): the memory store, the harness's own, and the durable ones."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests import stores

EXAMPLES = Path(__file__).parents[2] / "workflows"

if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))

STORES = ["memory", "file", "postgresql"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    stores.parametrize(metafunc, STORES)


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    return stores.kind(request, STORES)
