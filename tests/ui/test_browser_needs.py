"""Without Chromium the browser tests fail in CI (`CI` set) and skip elsewhere, saying
where they looked and how to get it: run here as a pytest of their own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def browser_tests(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "CI"}
    one_test = ["-k", "appear_without_a_reload", "-rsf", "--basetemp", str(tmp_path / "t")]
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/ui/test_browser.py",
            "-p",
            "no:cacheprovider",
            *one_test,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**base, "AIKI_TEST_CHROMIUM": str(tmp_path / "no-chromium"), **env},
        timeout=120,
    )


@pytest.mark.slow
def test_without_chromium_they_skip_outside_ci(tmp_path: Path) -> None:
    done = browser_tests(tmp_path)
    assert done.returncode == 0, done.stdout
    assert "1 skipped" in done.stdout and f"no Chromium at {tmp_path}" in done.stdout


@pytest.mark.slow
def test_without_chromium_they_fail_in_ci(tmp_path: Path) -> None:
    done = browser_tests(tmp_path, CI="true")
    assert done.returncode == 1, done.stdout
    assert "1 error" in done.stdout or "1 failed" in done.stdout
    assert "apt-get install chromium" in done.stdout
