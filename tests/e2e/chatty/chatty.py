"""A workflow whose code prints everywhere it can: at import, in the workflow, in a
plain-function task (run in a thread) and in an async task (run in the event loop).

Kept out of `tests/e2e/workflows` because every command that loads that directory would
carry its chatter on stderr. Each line starts with `chatty:` so a test can find them all;
the thread task also writes straight to file descriptor 1, as C code or a child process
would, past any `sys.stdout` object.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from aiki_cli import Run, task, workflow

print("chatty: imported")


@task(name="chatty-sync")
def chatty_sync(input: dict[str, Any]) -> int:
    print("chatty: in the thread task")
    sys.stdout.flush()
    os.write(1, b"chatty: written to fd 1\n")
    return int(input.get("n", 1)) + 1


@task(name="chatty-async")
async def chatty_async(n: int) -> int:
    print("chatty: in the async task", flush=True)
    return n * 10


@workflow(name="chatty").v("1.0.0")
async def chatty_v1(input: dict[str, Any] | None, run: Run) -> dict[str, int]:
    print("chatty: in the workflow")
    n = await chatty_sync.start(run, input or {})
    return {"n": await chatty_async.start(run, n)}
