"""The file store lists timers/ again only when the folder changed (issue 16.16): an idle
worker polling many sleepers must not list and sort the whole folder on every pass."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aiki_cli.model.schedule import Schedule
from aiki_cli.store.files import FileStore, indexes

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def add_timer(store: FileStore, name: str, due: float) -> None:
    schedule = Schedule(
        id=name, workflow="orders", version="1.0.0", every=60, created_at=T0, next_due=at(due)
    )
    store.save_schedule(schedule)


@pytest.fixture
def listings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The folders the file store lists, as they are listed."""
    seen: list[str] = []
    real = os.listdir

    def listdir(path: str | os.PathLike[str]) -> list[str]:
        seen.append(os.path.basename(os.fspath(path)))
        return real(path)

    monkeypatch.setattr(indexes.os, "listdir", listdir)
    return seen


def test_an_unchanged_timers_folder_is_not_listed_again(
    tmp_path: Path, listings: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(indexes, "_SETTLED", 0.0)  # the folder's last change counts as old
    store = FileStore(tmp_path / "runs")
    for n in range(50):
        add_timer(store, f"s{n}", due=100 + n)
    assert [t.target for t in store.due_timers(at(101))] == ["s0", "s1"]
    assert listings.count("timers") == 1
    for _ in range(20):
        assert [t.target for t in store.due_timers(at(101))] == ["s0", "s1"]
        assert store.next_due() == at(100)
    assert listings.count("timers") == 1


def test_a_timer_another_process_adds_is_seen_at_the_next_poll(
    tmp_path: Path, listings: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(indexes, "_SETTLED", 0.0)
    worker, other = FileStore(tmp_path / "runs"), FileStore(tmp_path / "runs")
    add_timer(other, "late", due=500)
    assert worker.due_timers(at(100)) == []
    add_timer(other, "early", due=50)
    assert [t.target for t in worker.due_timers(at(100))] == ["early"]
    other.remove_schedule("early")
    assert worker.due_timers(at(100)) == []
    assert listings.count("timers") == 3


def test_a_listing_taken_in_the_tick_of_the_last_change_is_not_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A timer added right after the listing, in the same tick of the file system's clock,
    leaves the folder's times as they were: such a listing must be taken again."""
    store, other = FileStore(tmp_path / "runs"), FileStore(tmp_path / "runs")
    add_timer(other, "late", due=500)
    frozen = indexes._folder_stamp(tmp_path / "runs" / "timers")
    monkeypatch.setattr(indexes, "_folder_stamp", lambda folder: frozen)
    monkeypatch.setattr(indexes.time, "time", lambda: frozen[2] / 1e9 + 0.001)
    assert store.due_timers(at(100)) == []
    add_timer(other, "early", due=50)  # the folder's stamp reads as before
    assert [t.target for t in store.due_timers(at(100))] == ["early"]


def test_a_listing_long_after_the_last_change_is_reused(
    tmp_path: Path, listings: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(tmp_path / "runs")
    add_timer(store, "late", due=500)
    frozen = indexes._folder_stamp(tmp_path / "runs" / "timers")
    monkeypatch.setattr(indexes.time, "time", lambda: frozen[2] / 1e9 + 5.0)
    store.due_timers(at(100))
    store.due_timers(at(100))
    assert listings.count("timers") == 1
