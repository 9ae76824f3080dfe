"""How the `aiki` process leaves: the exit codes of SPEC §6 that are not an error's own,
and the hard exit taken when a task body may still run in a thread."""

import os
import sys
from dataclasses import dataclass
from typing import NoReturn

from . import streams

OK, USAGE, INTERRUPTED = 0, 2, 130


@dataclass
class _Exit:
    """Set when runs were abandoned while a plain-function task of theirs still runs in a
    thread: Python would wait for the thread at exit, and the task with it, after its run
    went back to the queue for another worker. The process then leaves as `kill -9` would."""

    hard: bool = False


EXIT = _Exit()


def leave(code: int) -> NoReturn:
    """End the process with `code`, hard when `EXIT.hard` says so."""
    if EXIT.hard:  # user code may still print: stdout stays diverted to the end
        streams.stdout().flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
