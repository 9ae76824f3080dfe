"""The process limits a worker needs: open files for every run it holds.

A held run keeps two files open on the file store (its directory, which is its lock, and
its journal); the spare files are for the worker's own files and for the workflows' code.
"""

from __future__ import annotations

import resource

from ..errors import BadInput

_FILES_PER_RUN = 2
_SPARE_FILES = 256


def allow_open_files(concurrency: int, *, held: int) -> None:
    """Raise the process's soft limit on open files to what a worker holding up to `held`
    runs needs (a common default of 1,024 allows ~190), within the hard limit, as Go
    programs do at start. `BadInput`, naming `concurrency`, when even the hard limit is
    too low."""
    need = held * _FILES_PER_RUN + _SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        raise BadInput(
            f"concurrency {concurrency} needs up to {need:,} open files, above this "
            f"process's limit of {hard:,}: lower the concurrency, or raise `ulimit -n`"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
