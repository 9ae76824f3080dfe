"""What the task bodies of the reliability workflows report, for the tests to check.

Everything lands in the directory named by `AIKI_REL_PROBE` (unset: nothing is recorded):

    executions   per task body execution, a line when it starts and one when it finishes:
                 "start <key> <call> <token> <pid> <time_ns>"
                 "end <key> <call> <token> <pid> <time_ns>"
                 <key> names the run (from its input), <call> the task call within it,
                 <token> this one execution; a body killed with its worker has no "end"
    overlaps     one line per body that found its run's marker taken: two executors at once
    markers/     <key> exists while a body of that run executes (only bodies that ask)

Lines are appended with O_APPEND in a single `write`, so the processes of a test never
interleave them, and a SIGKILL never tears one. The loader skips this module (its name
starts with `_`); the workflow modules beside it import it as a sibling.
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

ENV = "AIKI_REL_PROBE"


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


def _mark(event: str, key: str, call: str, token: str) -> None:
    _append("executions", f"{event} {key} {call} {token} {os.getpid()} {time.time_ns()}\n")


@contextlib.contextmanager
def _exclusive(key: str, call: str, wanted: bool) -> Iterator[None]:
    """Hold the run's marker while the body executes; a taken marker is an overlap."""
    folder = _folder()
    if folder is None or not wanted:
        yield
        return
    marker = folder / "markers" / key
    marker.parent.mkdir(exist_ok=True)
    try:
        os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        _append("overlaps", f"{key} {call} pid={os.getpid()}\n")
        yield
        return
    try:
        yield
    finally:
        marker.unlink()


def work(input: dict[str, Any]) -> dict[str, Any]:
    """A plain-function body: record, work for `input["work"]` seconds, record, return
    (or raise, when `input["fail"]`).

    Its result names the execution that produced it, so the journal tells which one of
    possibly several executions of the call (a killed worker's, then its successor's) was
    the one recorded.
    """
    key, call, token = input["key"], input["call"], secrets.token_hex(6)
    with _exclusive(key, call, input.get("exclusive", False)):
        _mark("start", key, call, token)
        time.sleep(input.get("work", 0.0))
        _mark("end", key, call, token)
    if input.get("fail"):
        raise ValueError(f"{call} of {key} fails, as its workflow says")
    return {"key": key, "call": call, "token": token}


async def work_async(input: dict[str, Any]) -> dict[str, Any]:
    """`work` as a coroutine: it runs in the worker's event loop, not in a thread."""
    key, call, token = input["key"], input["call"], secrets.token_hex(6)
    with _exclusive(key, call, input.get("exclusive", False)):
        _mark("start", key, call, token)
        await asyncio.sleep(input.get("work", 0.0))
        _mark("end", key, call, token)
    return {"key": key, "call": call, "token": token}
