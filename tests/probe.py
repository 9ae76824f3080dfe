"""What the task bodies of the test workflows report, for the tests to check.

The workflow modules of the integration tier (tests/workflows) and of the reliability
tier (tests/reliability/workflows) import it as `from tests import probe`; the worker
processes find it because the editable install puts the repository on `sys.path`.
Everything lands in the directory named by `AIKI_TEST_PROBE` (with it unset, nothing is
recorded and `wait_for_go` returns at once):

    counts       one line "<key> <task>" per execution of a task body (`record`)
    executions   per execution of `work`/`work_async`, a line when it starts and one when
                 it finishes: "start|end <key> <call> <token> <pid> <time_ns>";
                 <key> names the run (from its input), <call> the task call within it,
                 <token> this one execution; a body killed with its worker has no "end"
    overlaps     one line per body that found its run's marker taken: two executors at once
    markers/     <key> exists while a body of that run executes (`exclusive`)
    solo/        <key> holds the pid of the process executing a `solo` body of that run
    go           `wait_for_go` blocks until the test creates this file

Lines are appended with O_APPEND in a single `write`, so the processes of a test never
interleave them, and a SIGKILL never tears one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ENV = "AIKI_TEST_PROBE"
GO_TIMEOUT = 60.0


def _folder() -> Path | None:
    folder = os.environ.get(ENV)
    return Path(folder) if folder else None


def _append(name: str, line: str) -> None:
    folder = _folder()
    if folder is None:
        return
    fd = os.open(folder / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def record(key: str, task: str) -> None:
    """Count one execution of `task` for the run whose input carries `key`."""
    _append("counts", f"{key} {task}\n")


@contextlib.contextmanager
def exclusive(key: str, task: str) -> Iterator[None]:
    """Hold the run's marker while the body executes; a taken marker is an overlap."""
    folder = _folder()
    if folder is None:
        yield
        return
    marker = folder / "markers" / key
    marker.parent.mkdir(exist_ok=True)
    try:
        os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        _append("overlaps", f"{key} {task} pid={os.getpid()}\n")
        yield
        return
    try:
        yield
    finally:
        marker.unlink()


@contextlib.contextmanager
def solo(key: str, task: str) -> Iterator[None]:
    """Like `exclusive`, for a body whose process may be killed while it executes: the
    marker holds the pid of the process executing it, and a marker whose process has
    died is stale rather than an overlap."""
    folder = _folder()
    if folder is None:
        yield
        return
    marker = folder / "solo" / key
    marker.parent.mkdir(exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        holder = int(marker.read_text())
        if holder != os.getpid() and _alive(holder):
            _append("overlaps", f"{key} {task} pid={os.getpid()} beside pid={holder}\n")
    marker.write_text(str(os.getpid()))
    try:
        yield
    finally:
        marker.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """Whether process `pid` still executes: a zombie (dead, not yet reaped) does not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def wait_for_go() -> None:
    """Block until the test says go; bounded, so a forgotten go cannot hang a worker."""
    folder = _folder()
    if folder is None:
        return
    deadline = time.monotonic() + GO_TIMEOUT
    while not (folder / "go").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no go file in {folder} after {GO_TIMEOUT:g}s")
        time.sleep(0.01)


def _mark(event: str, key: str, call: str, token: str) -> None:
    _append("executions", f"{event} {key} {call} {token} {os.getpid()} {time.time_ns()}\n")


def _exclusive_if(wanted: bool, key: str, call: str) -> contextlib.AbstractContextManager[None]:
    """`exclusive` for the bodies whose input asks for it."""
    return exclusive(key, call) if wanted else contextlib.nullcontext()


def work(input: dict[str, Any]) -> dict[str, Any]:
    """A plain-function body: record, work for `input["work"]` seconds, record, return
    (or raise, when `input["fail"]`).

    Its result names the execution that produced it, so the journal tells which one of
    possibly several executions of the call (a killed worker's, then its successor's) was
    the one recorded.
    """
    key, call, token = input["key"], input["call"], secrets.token_hex(6)
    with _exclusive_if(input.get("exclusive", False), key, call):
        _mark("start", key, call, token)
        time.sleep(input.get("work", 0.0))
        _mark("end", key, call, token)
    if input.get("fail"):
        raise ValueError(f"{call} of {key} fails, as its workflow says")
    return {"key": key, "call": call, "token": token}


async def work_async(input: dict[str, Any]) -> dict[str, Any]:
    """`work` as a coroutine: it runs in the worker's event loop, not in a thread."""
    key, call, token = input["key"], input["call"], secrets.token_hex(6)
    with _exclusive_if(input.get("exclusive", False), key, call):
        _mark("start", key, call, token)
        await asyncio.sleep(input.get("work", 0.0))
        _mark("end", key, call, token)
    return {"key": key, "call": call, "token": token}
