"""Importing aiki runs no collection, and leaves what it made in the oldest generation;
a program's own collector settings (off, objects frozen) are kept."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from aiki_cli.gc_pause import uncollected


class Made:
    """An object the collector tracks."""


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    (gc.enable if enabled else gc.disable)()


def generation_of(thing: object) -> int | None:
    return next((g for g in range(3) if any(o is thing for o in gc.get_objects(g))), None)


def test_no_collection_runs_inside_and_what_was_made_joins_the_oldest_generation() -> None:
    gc.enable()
    passes: list[str] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        passes.append(phase)

    gc.callbacks.append(callback)
    try:
        with uncollected():
            assert not gc.isenabled()
            made = [Made() for _ in range(5_000)]  # past the young generation's threshold
            assert generation_of(made[0]) == 0
    finally:
        gc.callbacks.remove(callback)
    assert passes == []
    assert gc.isenabled()
    assert generation_of(made[0]) == 2


def test_a_collector_turned_off_stays_off() -> None:
    gc.disable()
    with uncollected():
        pass
    assert not gc.isenabled()


def test_objects_the_program_froze_stay_frozen() -> None:
    frozen = Made()
    gc.freeze()
    count = gc.get_freeze_count()
    with uncollected():
        made = Made()
    assert gc.get_freeze_count() == count
    assert generation_of(frozen) is None  # still in the permanent generation
    assert generation_of(made) == 0
