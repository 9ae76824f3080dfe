"""Group commit: the journals of runs executing side by side are made durable together.

A flush is one `fdatasync` of a run's journal, a full trip to the disk. Done on the event
loop, the flushes of a worker's concurrent runs queue up one behind another and the loop
waits for each. Instead, the flushes asked for while the loop is busy are gathered into a
batch, and one sync thread makes the whole batch durable at once (the store syncs their
file system in one go) while the loop executes other runs. The flushes asked for during
that sync form the next batch, so batches grow as the disk slows down and a thread wakes
once per batch, not once per flush. A run alone in its worker flushes in place, where a
thread would only add a hand-off.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from .store import Claim

Waiter = tuple[Claim, asyncio.Future[None]]
Together = Callable[[list[Claim]], bool]


class GroupCommit:
    """Flushes claims in batches, in a sync thread, while more than one run is executing.

    `together(claims)` makes a batch durable at once; when it returns False, each claim
    of the batch is flushed alone."""

    def __init__(self, together: Together, executing: Callable[[], int]) -> None:
        self._together = together
        self._executing = executing
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="aiki-sync")
        self._waiting: list[Waiter] = []
        self._syncing = False

    async def flush(self, claim: Claim) -> None:
        """Make what `claim` journaled durable before returning."""
        if not claim.unsynced:
            return
        if self._executing() < 2:
            claim.flush()
            return
        loop = asyncio.get_running_loop()
        if not self._waiting and not self._syncing:
            loop.call_soon(self._hand_over, loop)  # once the others have asked too
        done: asyncio.Future[None] = loop.create_future()
        self._waiting.append((claim, done))
        # Shielded: a run stopped meanwhile does not cancel the sync under way.
        await asyncio.shield(done)

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._waiting = self._waiting, []
        self._syncing = True
        claims = [claim for claim, _ in batch]
        job = loop.run_in_executor(self._pool, _flush_batch, self._together, claims)
        job.add_done_callback(functools.partial(self._settle, batch, loop))

    def _settle(
        self,
        batch: list[Waiter],
        loop: asyncio.AbstractEventLoop,
        job: asyncio.Future[list[BaseException | None]],
    ) -> None:
        self._syncing = False
        try:
            errors = job.result()
        except Exception as broke:  # the batch broke as a whole: every run in it learns
            errors = [broke] * len(batch)
        for (_, done), error in zip(batch, errors, strict=True):
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)
        if self._waiting:  # asked for during this sync: the next batch
            self._hand_over(loop)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _flush_batch(together: Together, claims: list[Claim]) -> list[BaseException | None]:
    """Flush the claims, all at once if `together` can; what each flush raised, if anything."""
    if len(claims) > 1 and together(claims):
        return [None] * len(claims)
    errors: list[BaseException | None] = []
    for claim in claims:
        try:
            claim.flush()
            errors.append(None)
        except Exception as error:
            errors.append(error)
    return errors


async def flush(claim: Claim, commit: GroupCommit | None) -> None:
    """Flush `claim` through `commit`, or in place when there is none."""
    if commit is None:
        claim.flush()
    else:
        await commit.flush(claim)
