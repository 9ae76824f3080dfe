"""Fixtures of the integration tier; the harness itself is in harness.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import Processes, Sandbox


@pytest.fixture
def sandbox(tmp_path: Path, processes: Processes) -> Sandbox:
    return Sandbox(tmp_path / "store", tmp_path / "probe", processes)


@pytest.fixture
def processes() -> Iterator[Processes]:
    """The child processes a test starts, killed when it ends, however it ends."""
    started = Processes()
    try:
        yield started
    finally:
        started.kill_all()
