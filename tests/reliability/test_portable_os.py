"""The portable OS layer, proven on Linux: the store's contract suite and the kill tests
run again, in a fresh pytest with `AIKI_PORTABLE_OS=1`, so that the store, and every
worker those tests start, flushes with `fsync` alone (no `fdatasync`, no `syncfs`) and
locks through `filelock`. On any other platform the portable layer is the one in use
throughout the suite already."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from aiki_cli import oslayer

ROOT = Path(__file__).resolve().parents[2]
SUITES = [
    "tests/store",
    "tests/integration/test_kill9_recovery.py",
    "tests/reliability/test_kill_soak.py",
]
LIMIT = 600  # seconds: about 30 on an idle machine


@pytest.mark.slow
@pytest.mark.timeout(LIMIT + 60)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="elsewhere it is the default")
def test_the_store_contract_and_the_kill_tests_pass_with_the_portable_layer(
    tmp_path: Path,
) -> None:
    env = {**os.environ, oslayer.PORTABLE_VARIABLE: "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUITES]
    command += ["--basetemp", str(tmp_path / "base")]
    inner = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its workers go with it, however this test ends
    )
    try:
        output, _ = inner.communicate(timeout=LIMIT)
    finally:
        if inner.poll() is None:
            os.killpg(inner.pid, signal.SIGKILL)
            inner.communicate()
    assert inner.returncode == 0, output[-6000:]
    passed = re.search(r"(\d+) passed", output)
    assert passed is not None and int(passed.group(1)) >= 100, output[-2000:]
