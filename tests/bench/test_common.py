"""The benchmarks' shared helpers that a figure depends on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import _common as c


def _python(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code])


def test_wait_exactly_returns_the_exit_code() -> None:
    assert c.wait_exactly(_python("raise SystemExit(3)"), timeout=30) == 3


def test_wait_exactly_returns_the_code_of_a_child_already_reaped() -> None:
    child = _python("pass")
    child.wait()
    assert c.wait_exactly(child, timeout=30) == 0


def test_wait_exactly_gives_up_after_the_timeout() -> None:
    child = _python("import time; time.sleep(60)")
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            c.wait_exactly(child, timeout=0.2)
        assert child.poll() is None  # still running: the wait gave up, it did not reap
    finally:
        child.kill()
        child.wait()


def test_children_wait_fails_on_a_nonzero_exit() -> None:
    with c.Children() as children:
        child = children.spawn([sys.executable, "-c", "raise SystemExit(2)"])
        with pytest.raises(RuntimeError, match="exited 2"):
            children.wait(child)
