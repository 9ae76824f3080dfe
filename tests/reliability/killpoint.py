"""Kill an `aiki` command at its N-th system call that touches the store.

    python -m tests.reliability.killpoint N -- aiki ARGS...   # SIGKILL at the N-th change
    python -m tests.reliability.killpoint --every-call N -- aiki ARGS...   # N-th call
    python -m tests.reliability.killpoint 0 -- aiki ARGS...   # count the calls, kill none

The calls counted are the ones the store's durability rests on, as Python makes them:
`os.open` (reads too), `os.write`, `os.fsync`, `os.fdatasync`, `os.rename`, `os.replace`,
`os.link`, `os.unlink`, `os.mkdir`, `os.rmdir`, `os.ftruncate`, `os.truncate` and
`fcntl.flock`; the changes are those that can change a file (all but reads, syncs and
locks). Before the N-th, the process sends itself SIGKILL: the store is left exactly as a
`kill -9` between two system calls leaves it. Without reaching N the command ends as
usual, and the numbers of calls and changes it made are printed on stderr.

`fork_aiki` does the same from a test, in a process forked from a server that has
already imported aiki (`--serve`; a fresh interpreter per kill point costs far more).
"""

from __future__ import annotations

import atexit
import fcntl
import importlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

OS_CALLS = (
    "open",
    "write",
    "fsync",
    "fdatasync",
    "rename",
    "replace",
    "link",
    "unlink",
    "mkdir",
    "rmdir",
    "ftruncate",
    "truncate",
)
KILLED = -signal.SIGKILL  # a process's exit code when SIGKILL ended it


_WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class Counter:
    """The calls made since `arm`, and those of them that change the store (`changes`);
    at change `kill_at` (if any) the process kills itself before making it.

    Killing before a call that changes nothing (a read, a sync, a lock) leaves the files
    as killing before the next change does, so only changes are kill points: each kill
    point is one of the states a SIGKILL can leave, and every such state is one.
    `every_call` makes every call a kill point all the same.
    """

    def __init__(self, kill_at: int | None, every_call: bool = False) -> None:
        self.kill_at = kill_at
        self.every_call = every_call
        self.calls = 0
        self.changes = 0
        self.code: int | None = None  # the command's exit code, once it ended
        self._lock = threading.Lock()

    def tick(self, changes: bool) -> None:
        with self._lock:
            self.calls += 1
            self.changes += changes
            at = self.calls if self.every_call else self.changes
            if at == self.kill_at and (changes or self.every_call):
                os.kill(os.getpid(), signal.SIGKILL)


def arm(kill_at: int | None, every_call: bool = False) -> Counter:
    """Count (and kill at `kill_at`) the store's system calls from now on."""
    counter = Counter(kill_at, every_call)
    for name in OS_CALLS:
        setattr(os, name, _counted(getattr(os, name), counter, name))
    fcntl.flock = _counted(fcntl.flock, counter, "flock")
    return counter


def _counted(function: Callable[..., Any], counter: Counter, name: str) -> Callable[..., Any]:
    def counted(*args: Any, **kwargs: Any) -> Any:
        counter.tick(_changes(name, args, kwargs))
        return function(*args, **kwargs)

    return counted


def _changes(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether the call can change a file: not a read, a sync or a lock."""
    if name == "open":
        flags = args[1] if len(args) > 1 else kwargs.get("flags", 0)
        return bool(flags & _WRITING)
    return name not in ("fsync", "fdatasync", "flock")


def run_aiki(args: Sequence[str], kill_at: int | None, every_call: bool = False) -> Counter:
    """Run `aiki ARGS` in this process, armed: its counter, and its exit code in `code`."""
    from aiki_cli.cli.app import main

    sys.argv = ["aiki", *args]
    counter = arm(kill_at, every_call)
    try:
        main()
        counter.code = 0
    except SystemExit as exit:
        counter.code = exit.code if isinstance(exit.code, int) else 1
    return counter


def _forked(request: dict[str, Any]) -> None:
    """The body of a forked command: its output to its log, then exit with its code."""
    os.chdir(request["cwd"])
    os.environ.update(request["env"])
    for fds, path in (((1, 2), request["log"]), ((2,), request["err"])):
        if path is not None:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            for target in fds:
                os.dup2(fd, target)
            os.close(fd)
    counter = run_aiki(request["args"], request["kill_at"], request.get("every_call", False))
    sys.stdout.flush()
    sys.stderr.flush()
    calls = {"calls": counter.calls, "changes": counter.changes}
    Path(request["log"] + ".calls").write_text(json.dumps(calls))  # no longer counted
    os._exit(counter.code or 0)


def serve() -> None:
    """Fork a process per request read on stdin (one JSON line: args, kill_at, cwd, env,
    log, err); answer each with its exit status. Ends when stdin closes."""
    _import_aiki()
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                _forked(request)
            finally:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        print(json.dumps({"code": code}), flush=True)


def _import_aiki() -> None:
    """Import every module of aiki (most load lazily) once, not in each fork."""
    import pkgutil

    import aiki_cli

    for module in pkgutil.walk_packages(aiki_cli.__path__, "aiki_cli."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    importlib.import_module("rich.console")
    importlib.import_module("rich.table")


_server: subprocess.Popen[str] | None = None


def fork_aiki(
    args: Sequence[str],
    kill_at: int | None,
    *,
    cwd: Path,
    env: dict[str, str],
    log: Path,
    err: Path | None = None,
) -> tuple[int, dict[str, int] | None]:
    """Run `aiki ARGS` in a process forked from a server that has imported aiki, killed
    at change `kill_at` (None: never), its output to `log` (its stderr to `err`, if
    given). Its exit code (`KILLED` when killed) and, when it ended by itself, the calls
    it made: {"calls": all, "changes": those that change}."""
    global _server
    if _server is None or _server.poll() is not None:
        _server = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.killpoint", "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parents[2],
        )
        atexit.register(close)
    assert _server.stdin is not None and _server.stdout is not None
    calls = Path(f"{log}.calls")
    calls.unlink(missing_ok=True)
    request = {"args": list(args), "kill_at": kill_at, "cwd": str(cwd), "env": env}
    request["every_call"] = os.environ.get("AIKI_KP_EVERY_CALL") == "1"
    files = {"log": str(log), "err": None if err is None else str(err)}
    _server.stdin.write(json.dumps({**request, **files}) + "\n")
    _server.stdin.flush()
    answer = _server.stdout.readline()
    if not answer:
        raise AssertionError(f"the kill-point server died running aiki {' '.join(args)}")
    code: int = json.loads(answer)["code"]
    return code, json.loads(calls.read_text()) if calls.exists() else None


def close() -> None:
    """Stop the fork server (it ends when its stdin closes)."""
    global _server
    if _server is not None:
        assert _server.stdin is not None
        _server.stdin.close()
        try:
            _server.wait(10)
        except subprocess.TimeoutExpired:
            _server.kill()
            _server.wait()
        _server = None


def main(argv: Sequence[str]) -> int:
    if argv == ["--serve"]:
        serve()
        return 0
    every_call = argv[:1] == ["--every-call"]
    argv = argv[every_call:]
    if len(argv) < 3 or not argv[0].isdigit() or argv[1] != "--" or argv[2] != "aiki":
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    counter = run_aiki(argv[3:], int(argv[0]) or None, every_call)
    print(
        f"killpoint: {counter.calls} calls, {counter.changes} of them changes; exit {counter.code}",
        file=sys.stderr,
    )
    return counter.code or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
