"""Group commit: the journals of runs executing side by side are made durable together.

A flush is one `fdatasync` of a run's journal, a full trip to the disk. Done on the event
loop, the flushes of a worker's concurrent runs queue up one behind another and the loop
waits for each. Done in threads, they overlap: the file system commits the journals
together (ext4 joins the syncs that arrive during a commit into the next one), and the
loop executes other runs meanwhile. A run alone in its worker flushes in place, where a
thread would only add a hand-off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from .store import Claim


class GroupCommit:
    """Flushes claims in `threads` threads while more than one run is executing."""

    def __init__(self, threads: int, executing: Callable[[], int]) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="aiki-sync")
        self._executing = executing

    async def flush(self, claim: Claim) -> None:
        """Make what `claim` journaled durable before returning."""
        if not claim.unsynced:
            return
        if self._executing() < 2:
            claim.flush()
            return
        await asyncio.shield(asyncio.get_running_loop().run_in_executor(self._pool, claim.flush))

    def close(self) -> None:
        self._pool.shutdown(wait=True)


async def flush(claim: Claim, commit: GroupCommit | None) -> None:
    """Flush `claim` through `commit`, or in place when there is none."""
    if commit is None:
        claim.flush()
    else:
        await commit.flush(claim)
