"""Run `aiki` commands with one kill point each: a command SIGKILLs itself just before
its N-th call of a file system operation (open for writing, write, fsync, rename, link,
unlink, mkdir, ...); N = 0 never kills.

    python _killer.py              # then one JSON request a line on stdin:
    {"kill_at": 3, "args": ["start", ...], "out": "o.txt", "err": "e.txt"}

For each request it forks a child that runs `aiki ARGS` (stdout and stderr into the
files named) and answers one line: the child's exit code, or minus the signal that
ended it. aiki is imported once, here, so a kill costs a fork, not a Python start. Only
calls made through the `os` module count, which is how aiki's store reads and writes;
imports do not go through it. The loader skips this module (its name starts with `_`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from typing import Any

CALLS = (
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
)


# An open that can change no file (for reading: a lock, a directory, `/dev/tty` for the
# terminal's width) is no kill point: a kill just before it leaves the files a kill just
# before the next call that changes one leaves.
_CHANGING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _changes(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    if name != "open":
        return True
    flags = args[1] if len(args) > 1 else kwargs.get("flags", 0)
    return bool(flags & _CHANGING)


def arm(kill_at: int) -> None:
    count = 0

    def counted(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            nonlocal count
            if not _changes(name, args, kwargs):
                return real(*args, **kwargs)
            count += 1
            if count == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)

        return call

    for name in CALLS:
        setattr(os, name, counted(name, getattr(os, name)))


def child(request: dict[str, Any]) -> int:
    for fd, name in ((1, request["out"]), (2, request["err"])):
        os.dup2(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
    arm(request["kill_at"])
    sys.argv = ["aiki", *request["args"]]
    try:
        run_main()
        return 0
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def warm_up() -> None:
    """Run each kind of command once, here, into a scratch store: what they import and
    build on first use is then ready in every child, which makes a kill cost a fork."""
    scratch = tempfile.mkdtemp()
    workflows = os.path.dirname(os.path.abspath(__file__))
    base = ["--runs-dir", os.path.join(scratch, "runs"), "--workflows-dir", workflows]
    commands = [
        ["start", "win@1.0.0", "--input-json", json.dumps({"counter": f"{scratch}/c"})],
        ["schedule", "add", "win@1.0.0", "--every", "1h", "--input-json", "{}"],
        ["send", "01m8aaaaaaaaaaaaaaaaaaaaaa", "go", "--reference-id", "r"],
        ["worker", "--until-idle"],
    ]
    saved = os.dup(1), os.dup(2)
    quiet = os.open(os.devnull, os.O_WRONLY)
    try:
        for args in commands:
            os.dup2(quiet, 1)
            os.dup2(quiet, 2)
            sys.argv = ["aiki", *base, *args]
            with contextlib.suppress(SystemExit):
                run_main()
            sys.stdout.flush()
            sys.stderr.flush()
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        shutil.rmtree(scratch, ignore_errors=True)


def run_main() -> None:
    from aiki_cli.cli.app import main

    main()


def serve() -> None:
    warm_up()
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = child(request)
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        print(json.dumps(os.waitstatus_to_exitcode(status)), flush=True)


if __name__ == "__main__":
    serve()
