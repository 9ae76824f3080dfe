"""The integration harness: real `aiki` processes on a file store in `tmp_path`.

Every process a test starts goes through `Processes`, which the `processes` fixture (this
tier's and the reliability tier's conftest.py) SIGKILLs and reaps at teardown, pass or
fail. Every wait has a deadline. Task bodies report what they executed through the probe
directory (see tests/probe.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"

# Generous for a loaded CI machine; a healthy test never gets near them.
PROCESS_TIMEOUT = 45.0
WAIT_TIMEOUT = 30.0


class Processes:
    """The processes a test started; `kill_all` ends and reaps them."""

    def __init__(self) -> None:
        self._started: list[subprocess.Popen[bytes]] = []

    def spawn(self, args: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> Process:
        with open(log, "wb") as out:
            process = subprocess.Popen(
                args, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )
        self._started.append(process)
        return Process(process, log)

    def kill_all(self) -> None:
        for process in self._started:
            if process.poll() is None:
                process.kill()
        for process in self._started:
            # Only a process stuck in the kernel outlives SIGKILL; do not hang on it.
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)


class Process:
    """A started process and the file its stdout and stderr go to."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float = PROCESS_TIMEOUT) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"process {self.pid} still running after {timeout:g}s:\n{self.output()}")

    def kill9(self) -> None:
        """SIGKILL the process, as a crash or `kill -9` would, and reap it."""
        self.process.send_signal(signal.SIGKILL)  # does nothing to a process already reaped
        code = self.wait()
        assert code == -signal.SIGKILL, f"process {self.pid} had exited already ({code})"


class Sandbox:
    """One run store in `root`, a probe directory, and the `aiki` processes that use them."""

    def __init__(self, root: Path, probe: Path, processes: Processes) -> None:
        self.root = root
        self.runs = root / "runs"
        self.probe = probe
        self._processes = processes
        self._logs = 0
        root.mkdir(exist_ok=True)
        probe.mkdir(exist_ok=True)
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"AIKI_RUNS_DIR", "AIKI_WORKFLOWS_DIR", "AIKI_DEBUG"}
        }
        self.env.update({"AIKI_TEST_PROBE": str(probe), "NO_COLOR": "1"})

    def other_store(self, name: str) -> Sandbox:
        """A second store beside this one, sharing the probe directory and processes."""
        return Sandbox(self.root.parent / name, self.probe, self._processes)

    # -- processes ----------------------------------------------------------------------

    def command(self, *args: str, workflows: Path = WORKFLOWS) -> list[str]:
        return [
            sys.executable,
            "-m",
            "aiki_cli",
            "--runs-dir",
            str(self.runs),
            "--workflows-dir",
            str(workflows),
            *args,
        ]

    def spawn(self, *args: str, workflows: Path = WORKFLOWS) -> Process:
        self._logs += 1
        log = self.root / f"process-{self._logs}.log"
        return self._processes.spawn(
            self.command(*args, workflows=workflows), env=self.env, cwd=self.root, log=log
        )

    def worker(self, *args: str, workflows: Path = WORKFLOWS) -> Process:
        return self.spawn("worker", "--poll-interval", "0.05", *args, workflows=workflows)

    def aiki(self, *args: str, workflows: Path = WORKFLOWS) -> subprocess.CompletedProcess[str]:
        """Run one `aiki` command to its end (killed and reaped if it overruns)."""
        return subprocess.run(
            self.command(*args, workflows=workflows),
            env=self.env,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=PROCESS_TIMEOUT,
            check=False,
        )

    def start(self, ref: str, input: Any, *, workflows: Path = WORKFLOWS) -> str:
        done = self.aiki("start", ref, "--input-json", json.dumps(input), workflows=workflows)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def status(self, run_id: str) -> dict[str, Any]:
        done = self.aiki("status", run_id, "--json")
        assert done.returncode == 0, done.stderr
        document: dict[str, Any] = json.loads(done.stdout)
        return document

    # -- files --------------------------------------------------------------------------

    def journal_path(self, run_id: str) -> Path:
        return self.runs / "run" / run_id / "journal.jsonl"

    def journal(self, run_id: str) -> list[dict[str, Any]]:
        """The complete lines of a run's journal (a line being written is left out)."""
        try:
            data = self.journal_path(run_id).read_bytes()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]

    def counts(self) -> Counter[tuple[str, str]]:
        """How often each (key, task) executed."""
        try:
            lines = (self.probe / "counts").read_text().splitlines()
        except FileNotFoundError:
            return Counter()
        return Counter((key, task) for key, _, task in (line.partition(" ") for line in lines))

    def overlaps(self) -> list[str]:
        try:
            return (self.probe / "overlaps").read_text().splitlines()
        except FileNotFoundError:
            return []

    def go(self) -> None:
        """Let slow tasks finish."""
        (self.probe / "go").touch()

    def wait_for_task(self, run_id: str, key: str, task: str, *, alive: Process) -> None:
        """Until the task is journaled as started and its body is executing."""

        def in_flight() -> bool:
            started = any(
                entry["type"] == "task_started" and entry["task"] == task
                for entry in self.journal(run_id)
            )
            return started and self.counts()[key, task] > 0

        wait_until(in_flight, f"{task} of run {run_id} in flight", alive=alive)


def wait_until(
    condition: Callable[[], bool],
    what: str,
    *,
    alive: Process | Sequence[Process] = (),
    timeout: float = WAIT_TIMEOUT,
) -> None:
    """Poll `condition`; fail if it is not met in time or a process in `alive` exits."""
    watched = [alive] if isinstance(alive, Process) else list(alive)
    deadline = time.monotonic() + timeout
    while not condition():
        for process in watched:
            if process.process.poll() is not None:
                pytest.fail(f"waiting for {what}: process {process.pid} exited\n{process.output()}")
        if time.monotonic() > deadline:
            logs = "".join(f"\n{process.output()}" for process in watched)
            pytest.fail(f"waiting for {what}: not after {timeout:g}s{logs}")
        time.sleep(0.01)
