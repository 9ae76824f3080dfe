"""Fixtures of the integration tier; the harness itself is in harness.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import Processes, Sandbox


@pytest.fixture
def sandbox(tmp_path: Path, processes: Processes) -> Sandbox:
    return Sandbox(tmp_path / "store", tmp_path / "probe", processes)
