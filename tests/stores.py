"""The store locations the engine, scenario and end-to-end tiers run against.

A tier's conftest calls `parametrize(metafunc, kinds)` from its `pytest_generate_tests`:
every test that asks for the `store_kind` fixture (directly, or through a fixture such as
`store`) then runs once per kind, and says which in its id: `test_x[postgresql]`.

`LOCATIONS` makes a fresh, empty store location for one test, for `open_store`,
`Client(...)`, `Harness(store=...)` or the CLI's store option. A new store is one line here
and one word in the tiers' kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

# kind -> the location of an empty store of that kind, for the test asking (its tmp_path)
LOCATIONS: dict[str, Callable[[pytest.FixtureRequest, Path], str]] = {
    "memory": lambda request, tmp_path: ":memory:",
    "file": lambda request, tmp_path: str(tmp_path / "runs"),
}


def parametrize(metafunc: pytest.Metafunc, kinds: Sequence[str]) -> None:
    """Run each test of the tier that asks for `store_kind` once per store in `kinds`,
    with the kind as its id (`test_x[file]`), never the location (a temporary path, a
    server's port), so ids are the same from run to run. A tier of one kind (the file store
    alone) parametrizes nothing: its ids stay plain."""
    if "store_kind" in metafunc.fixturenames and len(kinds) > 1:
        metafunc.parametrize("store_kind", list(kinds), ids=list(kinds), indirect=True)


def kind(request: pytest.FixtureRequest, kinds: Sequence[str]) -> str:
    """The kind of store the test runs against: its parameter, or the tier's only kind."""
    return str(getattr(request, "param", kinds[0]))


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    """The kind of store the test runs against; a tier that runs on other stores than
    the file store overrides this with `kind(request, its kinds)`."""
    return kind(request, ["file"])


@pytest.fixture
def store(request: pytest.FixtureRequest, store_kind: str, tmp_path: Path) -> str:
    """The location of a fresh, empty store of `store_kind`."""
    return LOCATIONS[store_kind](request, tmp_path)
