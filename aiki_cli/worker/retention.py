"""A long-lived worker's retention (`aiki worker --retention 30d`, `retention:` in
`aiki.yaml`): now and then it removes ended runs older than the age, a small batch a
pass, in a thread beside the runs it executes, never between a claim and its flush.

A pass is what `aiki gc --older-than AGE` does (see `engine.retention`), limited to
`BATCH` runs; a full batch means more are waiting, and the next pass follows at once.
Every pass logs the runs it removed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

from ..client import Client
from ..engine.retention import Policy, Report
from ..errors import AikiError

log = logging.getLogger("aiki.retention")

BATCH = 100  # runs removed in one pass at most
EVERY = 600.0  # seconds between passes that found less than a batch (each reads the listing)


class Retention:
    """Removes `client`'s ended runs older than `age`, a batch at a time."""

    def __init__(self, client: Client, age: timedelta, *, every: float = EVERY) -> None:
        self.client = client
        self.policy = Policy(age, limit=BATCH)
        self.every = every
        self.removed = 0  # runs removed so far
        self._next = 0.0  # the first pass comes at once
        self._pass: asyncio.Task[None] | None = None

    def tend(self) -> None:
        """Begin a pass in the background when one is due and none is under way."""
        if self._pass is None and time.monotonic() >= self._next:
            self._pass = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            report = await self.client.gc(self.policy)
        except AikiError as error:
            log.warning("retention: gc failed: %s", error)
            report = Report(dry_run=False)
        self._log(report)
        self.removed += len(report.runs)
        full = len(report.runs) >= BATCH
        self._next = time.monotonic() + (0.0 if full else self.every)
        self._pass = None

    def _log(self, report: Report) -> None:
        if report.runs:
            ids = " ".join(run.id for run in report.runs)
            age = self.policy.older_than
            log.info(
                "retention: removed %d run(s) ended over %s ago, %d bytes: %s",
                len(report.runs),
                age,
                report.bytes,
                ids,
            )

    async def close(self) -> None:
        """Let a pass under way end (it removes a run or leaves it whole, never half)."""
        if self._pass is not None:
            await asyncio.gather(self._pass, return_exceptions=True)
