"""Group commit: the journals of runs executing side by side are made durable together.

A flush is one `fdatasync` of a run's journal, a full trip to the disk. Done on the event
loop, the flushes of a worker's concurrent runs queue up one behind another and the loop
waits for each. Instead, the flushes asked for while the loop is busy are gathered into a
batch and made durable in sync threads while the loop executes other runs; the flushes
asked for during that sync form the next batch, so batches grow as the disk slows down.

A large batch goes to one thread, where the store makes it durable at once (one `syncfs`
of its file system): a thread wakes once for the whole batch, which spares CPU. A small
batch is split into shares, one per thread, whose `fdatasync`s overlap and finish sooner
than a `syncfs`, which writes out everything waiting on the file system. A run alone in
its worker flushes in place, where a thread would only add a hand-off.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from .base import Claim

Waiter = tuple[Claim, asyncio.Future[None]]
Together = Callable[[list[Claim]], bool]
Outcomes = list[BaseException | None]  # what each claim's flush raised, if anything

THREADS = 4
TOGETHER_FROM = 16  # journals in a batch from which one sync of them all costs less


class GroupCommit:
    """Flushes claims in batches, in sync threads, while more than one run is executing.

    `together(claims)` makes a batch durable at once; when it returns False, each claim
    of the batch is flushed alone."""

    def __init__(
        self, together: Together, executing: Callable[[], int], *, threads: int = THREADS
    ) -> None:
        self._together = together
        self._executing = executing
        self._threads = threads
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="aiki-sync")
        self._waiting: list[Waiter] = []
        self._in_flight = 0  # jobs of the batch being synced

    def alone(self) -> bool:
        """Whether a run executes alone: then its flushes are made in place."""
        return self._executing() < 2

    async def flush(self, claim: Claim) -> None:
        """Make what `claim` journaled durable before returning."""
        if not claim.unsynced:
            return
        if self.alone():
            claim.flush()
            return
        loop = asyncio.get_running_loop()
        if not self._waiting and not self._in_flight:
            loop.call_soon(self._hand_over, loop)  # once the others have asked too
        done: asyncio.Future[None] = loop.create_future()
        self._waiting.append((claim, done))
        # Shielded: a run stopped meanwhile does not cancel the sync under way.
        await asyncio.shield(done)

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._waiting = self._waiting, []
        jobs: list[tuple[list[Waiter], Callable[[list[Claim]], Outcomes]]]
        if len(batch) >= TOGETHER_FROM:
            jobs = [(batch, functools.partial(_flush_together, self._together))]
        else:
            shares = (batch[i :: self._threads] for i in range(min(self._threads, len(batch))))
            jobs = [(share, _flush_each) for share in shares]
        self._in_flight = len(jobs)
        for waiters, flush in jobs:
            job = loop.run_in_executor(self._pool, flush, [claim for claim, _ in waiters])
            job.add_done_callback(functools.partial(self._settle, waiters, loop))

    def _settle(
        self,
        waiters: list[Waiter],
        loop: asyncio.AbstractEventLoop,
        job: asyncio.Future[Outcomes],
    ) -> None:
        self._in_flight -= 1
        try:
            errors = job.result()
        except Exception as broke:  # the job broke as a whole: every run in it learns
            errors = [broke] * len(waiters)
        for (_, done), error in zip(waiters, errors, strict=True):
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)
        if not self._in_flight and self._waiting:  # asked for during this sync
            self._hand_over(loop)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _flush_together(together: Together, claims: list[Claim]) -> Outcomes:
    """Flush the claims all at once if `together` can, else each alone."""
    if together(claims):
        return [None] * len(claims)
    return _flush_each(claims)


def _flush_each(claims: list[Claim]) -> Outcomes:
    """Flush each claim in turn; what each flush raised, if anything."""
    errors: Outcomes = []
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


def alone(commit: GroupCommit | None) -> bool:
    """Whether a run executes alone (without `commit`, or alone in it): its flushes are
    then made in place."""
    return commit is None or commit.alone()
