"""Helpers of the end-to-end tier: how to run `aiki`, and what its outcomes must look like."""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

WORKFLOWS = Path(__file__).parent / "workflows"
RUN_ID = re.compile(r"[0-9a-hjkmnp-tv-z]{26}")
ANSI = re.compile(r"\x1b\[")
WIDTH = 100
SUBPROCESS_TIMEOUT = 30.0
# Variables that would change what the CLI prints or where it looks.
AMBIENT = (
    "AIKI_RUNS_DIR",
    "AIKI_STORE",
    "AIKI_WORKFLOWS_DIR",
    "AIKI_DEBUG",
    "NO_COLOR",
    "FORCE_COLOR",
    "CLICOLOR_FORCE",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "COLUMNS",
    "LINES",
)


def _executable() -> list[str]:
    """The venv's `aiki` console script, or the module when it is not installed as one."""
    found = shutil.which("aiki", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "aiki_cli"]


AIKI = _executable()


@dataclass
class Outcome:
    """What one command did, whichever way it was run."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def run_id(self) -> str:
        """The id `start` printed, checking that stdout is that one line and nothing else."""
        assert RUN_ID.fullmatch(self.stdout.removesuffix("\n")), self
        assert self.stdout.endswith("\n") and self.stdout.count("\n") == 1, self
        return self.stdout.strip()


Invoke = Callable[..., Outcome]


def assert_one_error(outcome: Outcome, code: int, *fragments: str) -> str:
    """Exit `code`, nothing on stdout, one `error:` line on stderr containing `fragments`."""
    assert outcome.code == code, outcome
    assert "Traceback" not in outcome.stderr, outcome.stderr
    assert outcome.stdout == "", outcome
    lines = outcome.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: "), lines
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def run_dirs(runs: Path) -> list[str]:
    """The ids of the runs stored under `runs`, read from the file system."""
    folder = runs / "run"
    return sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Poll until `condition()` holds; fail the test (not hang it) after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def start(cli: Invoke, ref: str, *args: str) -> str:
    """Start a run in-process (fast) and return its id."""
    outcome = cli("start", ref, *args)
    assert outcome.code == 0, outcome
    return outcome.run_id()


def finished(cli: Invoke, ref: str, *args: str) -> str:
    """The id of a run started and executed in-process, completed or failed."""
    outcome = cli("start", ref, *args, "--wait")
    assert outcome.code in (0, 1), outcome
    return outcome.run_id()


def gate_input(folder: Path) -> tuple[str, Path, Path]:
    """The input of `e2e-gated@1.0.0` as JSON text, with its started marker and gate file."""
    marker, gate = folder / "started", folder / "gate"
    return json.dumps({"started": str(marker), "gate": str(gate)}), marker, gate
