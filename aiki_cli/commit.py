"""Group commit: the journals of runs executing side by side are made durable together.

A flush is one `fdatasync` of a run's journal, a full trip to the disk. Done on the event
loop, the flushes of a worker's concurrent runs queue up one behind another and the loop
waits for each. Instead, the flushes asked for in one turn of the loop are gathered and
handed to a few threads at once, a share each: the threads' syncs overlap, the file
system commits them together (ext4 joins the syncs that arrive during a commit into the
next one), and the loop executes other runs meanwhile. Handing over shares rather than
single flushes keeps the threads' wake-ups, which cost CPU, to a few per turn. A run
alone in its worker flushes in place, where a thread would only add a hand-off.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from .store import Claim

Waiter = tuple[Claim, asyncio.Future[None]]


class GroupCommit:
    """Flushes claims in `threads` threads while more than one run is executing."""

    def __init__(self, threads: int, executing: Callable[[], int]) -> None:
        self._threads = threads
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="aiki-sync")
        self._executing = executing
        self._waiting: list[Waiter] = []

    async def flush(self, claim: Claim) -> None:
        """Make what `claim` journaled durable before returning."""
        if not claim.unsynced:
            return
        if self._executing() < 2:
            claim.flush()
            return
        loop = asyncio.get_running_loop()
        if not self._waiting:
            loop.call_soon(self._hand_over, loop)  # once the others have asked too
        done: asyncio.Future[None] = loop.create_future()
        self._waiting.append((claim, done))
        # Shielded: a run stopped meanwhile does not cancel the sync under way.
        await asyncio.shield(done)

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        waiting, self._waiting = self._waiting, []
        shares = [waiting[i :: self._threads] for i in range(min(self._threads, len(waiting)))]
        for share in shares:
            job = loop.run_in_executor(self._pool, _flush_all, [claim for claim, _ in share])
            job.add_done_callback(functools.partial(_settle, share))

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _flush_all(claims: list[Claim]) -> list[BaseException | None]:
    """Flush each claim in turn; what each flush raised, if anything."""
    errors: list[BaseException | None] = []
    for claim in claims:
        try:
            claim.flush()
            errors.append(None)
        except Exception as error:
            errors.append(error)
    return errors


def _settle(share: list[Waiter], job: asyncio.Future[list[BaseException | None]]) -> None:
    errors = job.result()
    for (_, done), error in zip(share, errors, strict=True):
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)


async def flush(claim: Claim, commit: GroupCommit | None) -> None:
    """Flush `claim` through `commit`, or in place when there is none."""
    if commit is None:
        claim.flush()
    else:
        await commit.flush(claim)
