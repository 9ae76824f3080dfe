"""The client: starting, reading, listing, waiting for and cancelling runs in a store."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from pathlib import Path
from typing import Any

from .canonical import input_hash
from .clock import Clock, SystemClock
from .engine import transition
from .entry import Entry
from .errors import BadInput, IdempotencyConflict, IllegalTransition, RunDamaged, WaitTimeout
from .handle import RunHandle
from .ids import check_run_id, new_run_id
from .journal import current_status, summarize
from .record import RunInfo, RunSpec
from .status import RunStatus
from .store import Store, open_store
from .workflow import WorkflowVersion

MAX_KEY_LENGTH = 256

log = logging.getLogger("aiki.client")


class Client:
    """`Client("runs")` opens the store in that directory (created on the first write)."""

    def __init__(self, runs_dir: str | Path | Store = "runs", *, clock: Clock | None = None):
        self.store = open_store(runs_dir)
        self.clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"<aiki client {self.store.location}>"

    async def start(
        self, version: WorkflowVersion, input: Any = None, *, idempotency_key: str | None = None
    ) -> RunHandle:
        """Create a pending run of `version`; with a key already used, the run it started."""
        return RunHandle(self, self.create(version, input, idempotency_key).id)

    def create(
        self, version: WorkflowVersion, input: Any, idempotency_key: str | None = None
    ) -> RunSpec:
        _check_key(idempotency_key)
        data = version.inputs.encode(input)
        now = self.clock.now()
        spec = RunSpec(
            id=new_run_id(now, secrets.token_bytes(10)),
            workflow=version.name,
            version=version.version,
            input=data,
            created_at=now,
            idempotency_key=idempotency_key,
        )
        stored = self.store.create_run(spec)
        if stored.id != spec.id:
            _check_same_start(stored, spec)
        return stored

    def handle(self, run_id: str) -> RunHandle:
        return RunHandle(self, check_run_id(run_id))

    async def get(self, run_id: str) -> RunInfo:
        spec, entries = self.store.read_run(run_id)
        return summarize(spec, entries, cancel_requested="cancel" in self.store.requests(run_id))

    async def history(self, run_id: str) -> list[Entry]:
        return self.store.read_run(run_id)[1]

    async def list(
        self,
        *,
        status: RunStatus | None = None,
        workflow: str | None = None,
        version: str | None = None,
        limit: int | None = None,
    ) -> list[RunInfo]:
        """Runs newest first, filtered; reads only the runs it returns or skips."""
        found: list[RunInfo] = []
        for ref in self.store.list_runs():
            if limit is not None and len(found) >= limit:
                break
            if (workflow and ref.workflow != workflow) or (version and ref.version != version):
                continue
            info = self._info_or_none(ref.id)
            if info is not None and (status is None or info.status == status):
                found.append(info)
        return found

    def _info_or_none(self, run_id: str) -> RunInfo | None:
        try:
            spec, entries = self.store.read_run(run_id)
        except LookupError:
            return None  # listed by a start that did not finish
        except RunDamaged as error:
            log.warning("%s", error)
            return None
        return summarize(spec, entries, cancel_requested="cancel" in self.store.requests(run_id))

    async def wait(self, run_id: str, *, timeout: float | None = None) -> RunInfo:
        """The run's state once it is completed, failed or cancelled; else `WaitTimeout`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.005
        while True:
            info = await self.get(run_id)
            if info.status.terminal:
                return info
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise WaitTimeout(run_id, timeout or 0.0, info.status)
            await asyncio.sleep(delay if left is None else min(delay, left))
            delay = min(delay * 1.5, 0.2)

    async def cancel(self, run_id: str) -> RunInfo:
        """Cancel a run now if no worker executes it, else ask its worker to.

        Cancelling a cancelled run does nothing; a completed or failed run cannot be.
        """
        info = await self.get(run_id)
        if info.status != RunStatus.CANCELLED:
            _check_cancellable(info.id, info.status)
            claim = self.store.claim(run_id)
            if claim is None:
                self.store.request(run_id, "cancel")
            else:
                try:
                    status = current_status(claim.entries)
                    if status != RunStatus.CANCELLED:
                        _check_cancellable(run_id, status)
                        transition(
                            claim,
                            self.clock,
                            status,
                            RunStatus.CANCELLED,
                            attempt=info.attempt,
                            reason="cancelled",
                        )
                finally:
                    claim.release()
        return await self.get(run_id)

    def workers_alive(self) -> bool:
        return bool(self.store.live_workers())


def _check_cancellable(run_id: str, status: RunStatus) -> None:
    if status.terminal:
        raise IllegalTransition(
            run_id, status, RunStatus.CANCELLED, "only runs that have not ended can be cancelled"
        )


def _check_key(key: str | None) -> None:
    if key is not None and not (isinstance(key, str) and 0 < len(key) <= MAX_KEY_LENGTH):
        raise BadInput(
            f"an idempotency key is a non-empty string of at most {MAX_KEY_LENGTH} characters"
        )


def _check_same_start(stored: RunSpec, spec: RunSpec) -> None:
    key = spec.idempotency_key or ""
    if stored.version != spec.version:
        raise IdempotencyConflict(key, stored.id, f"version ({stored.version})")
    if input_hash(stored.input) != input_hash(spec.input):
        raise IdempotencyConflict(key, stored.id, "input")
