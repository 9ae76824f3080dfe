"""The store locations the engine, scenario and end-to-end tiers run against.

A tier's conftest calls `parametrize(metafunc, kinds)` from its `pytest_generate_tests`:
every test that asks for the `store_kind` fixture (directly, or through a fixture such as
`store`) then runs once per kind, and says which in its id: `test_x[postgresql]`.

`LOCATIONS` makes a fresh, empty store location for one test: `store_location` gives it
(for the CLI, or to open the store again as another process would), `store` the store
opened there, closed when the test ends (a PostgreSQL store holds connections). A new
store is one line here and one word in the tiers' kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from aiki_cli.store import Store, open_store

# kind -> the location of an empty store of that kind, for the test asking (its tmp_path)
LOCATIONS: dict[str, Callable[[pytest.FixtureRequest, Path], str]] = {
    "memory": lambda request, tmp_path: ":memory:",
    "file": lambda request, tmp_path: str(tmp_path / "runs"),
    "postgresql": lambda request, tmp_path: str(request.getfixturevalue("postgres_url")),
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
def store_location(request: pytest.FixtureRequest, store_kind: str, tmp_path: Path) -> str:
    """The location of a fresh, empty store of `store_kind`."""
    return LOCATIONS[store_kind](request, tmp_path)


@pytest.fixture
def store(store_location: str) -> Iterator[Store]:
    """The store at `store_location`, closed when the test ends."""
    opened = open_store(store_location)
    try:
        yield opened
    finally:
        close = getattr(opened, "close", None)
        if close is not None:
            close()
