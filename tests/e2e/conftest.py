"""Fixtures of the end-to-end tier: the real `aiki` executable in a subprocess (`aiki`,
`spawn`) and typer's CliRunner in this process (`cli`).

Every test runs in its own empty directory (the cwd), with the environment stripped of
anything that changes the CLI's behaviour (AIKI_*, colour and width variables; the
executable gets no controlling terminal, whose width it would use), and with
`AIKI_WORKFLOWS_DIR` pointing at `tests/e2e/workflows`. A test that wants other settings
passes them explicitly.

The tests of the files in `ON_EVERY_STORE` run once per store of `STORES`
(`tests/stores.py`), the store named to the CLI by the environment, except those that
take the `runs` fixture: they look at the file store's directory, so they run on it alone.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aiki_cli.cli.app import app
from tests import stores

from .support import AIKI, AMBIENT, ANSI, SUBPROCESS_TIMEOUT, WIDTH, WORKFLOWS, Invoke, Outcome

STORES = ["file", "postgresql"]

# What the CLI promises whatever the store: commands, their output and exit codes, waits,
# schedules, events. Left on the file store alone: its doctor, the parsing of options and
# config (no store is opened), help texts, and its open files and clock-shift tests.
ON_EVERY_STORE = {
    "test_ci_waits",
    "test_commands",
    "test_exit_codes",
    "test_output",
    "test_resend",
    "test_schedules",
    "test_start",
    "test_stores",
    "test_task_exits",
    "test_user_output",
    "test_value_limits",
    "test_views",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rpartition(".")[2]
    if module in ON_EVERY_STORE and "runs" not in metafunc.fixturenames:
        stores.parametrize(metafunc, STORES)


@pytest.fixture(autouse=True)
def clean_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, store_kind: str, store_location: str
) -> Path:
    """An empty cwd and an environment the tests control, naming the test's store unless
    it is the file store in `runs/` (the default); returns the cwd."""
    for name in AMBIENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIKI_WORKFLOWS_DIR", str(WORKFLOWS))
    if store_kind != "file":
        monkeypatch.setenv("AIKI_STORE", store_location)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """The default runs directory of the test's cwd (not created)."""
    return tmp_path / "runs"


@pytest.fixture
def aiki(tmp_path: Path) -> Invoke:
    """Run the real executable to completion in the test's cwd: `aiki("list", "--json")`.

    Whatever the test checks, no output may carry an escape code (stdout is not a terminal).
    """

    def run(
        *args: str,
        stdin: str = "",
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        before_exec: Callable[[], None] | None = None,
    ) -> Outcome:
        done = subprocess.run(
            [*AIKI, *args],
            input=stdin,
            capture_output=True,
            text=True,
            encoding="utf-8",
            env={**os.environ, **(env or {})},
            cwd=cwd or tmp_path,
            timeout=SUBPROCESS_TIMEOUT,  # run() kills the child when this fires
            preexec_fn=before_exec,  # in the child, before it runs `aiki` (limits, say)
            start_new_session=True,  # no controlling terminal: its width must not leak in
        )
        # Off a terminal (always, here) the CLI never writes escape codes: checked on every call.
        assert not ANSI.search(done.stdout + done.stderr), (done.stdout, done.stderr)
        return Outcome(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start `aiki` in the background; every process is killed and reaped at teardown."""
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [*AIKI, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            cwd=tmp_path,
            start_new_session=True,  # no controlling terminal, as for `aiki` above
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=SUBPROCESS_TIMEOUT)


@pytest.fixture
def cli() -> Invoke:
    """Invoke the app in this process through CliRunner, at a fixed width: `cli("list")`."""
    runner = CliRunner()

    def invoke(
        *args: str, stdin: str | None = None, env: Mapping[str, str] | None = None
    ) -> Outcome:
        result = runner.invoke(
            app, list(args), input=stdin, env={"COLUMNS": str(WIDTH), **(env or {})}
        )
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Outcome(result.exit_code, result.stdout, result.stderr)

    return invoke
