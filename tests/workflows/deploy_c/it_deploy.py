"""Deploy C of `it-deploy@1.0.0`: deploy A (see there) with a new task W before X.

Inserting a task in the middle is a divergence: replay must fail before W runs.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from aiki_cli import Run, task, workflow


def record(key: str, name: str) -> None:
    """Count one execution in $AIKI_TEST_PROBE/counts (see tests/probe.py)."""
    if folder := os.environ.get("AIKI_TEST_PROBE"):
        fd = os.open(Path(folder) / "counts", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{key} {name}\n".encode())
        finally:
            os.close(fd)


def wait_for_go(timeout: float = 60.0) -> None:
    if folder := os.environ.get("AIKI_TEST_PROBE"):
        deadline = time.monotonic() + timeout
        while not (Path(folder) / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.01)


@task(name="x")
def x(input: dict[str, Any]) -> str:
    record(input["key"], "x")
    return "x"


@task(name="y")
def y(input: dict[str, Any]) -> str:
    record(input["key"], "y")
    return "y"


@task(name="w")
def w(input: dict[str, Any]) -> str:
    record(input["key"], "w")
    return "w"


@task(name="z")
def z(input: dict[str, Any]) -> str:
    record(input["key"], "z")
    wait_for_go()
    return "z"


deploy = workflow(name="it-deploy")


@deploy.v("1.0.0")
async def deploy_v1(input: dict[str, Any], run: Run) -> list[str]:
    key = input["key"]
    done = [await w.start(run, {"key": key, "n": 0})]
    done.append(await x.start(run, {"key": key, "n": 1}))
    done.append(await y.start(run, {"key": key, "n": 2}))
    done.append(await z.start(run, {"key": key, "n": 3}))
    return done
