"""Commands on a run from outside: pause, resume, wake, retry in place, sending events,
and cancel (with its descendants, as `transitions.cancel` does).

Each acts at once when no worker executes the run: it takes the run's claim and journals
the change. When a worker holds the run, it leaves a request or mail instead, which the
worker acts on at the run's next task boundary (or when it next claims the run). Each is
ordered as `transitions.py` says, so that a command killed midway is finished by the next
worker to claim the run, or by repeating it.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import datetime
from typing import Any

from ..errors import BadInput, IllegalTransition
from ..model.entry import Entry, EventReceived
from ..model.journal import last_status, summarize
from ..model.status import RunStatus
from ..store import Mail, Store
from ..values.clock import Clock
from ..values.naming import check_text
from .transitions import cancel, claimed, paused, queue_request, status_of, transition

__all__ = ["cancel", "pause", "resume", "retry", "send", "wake"]


def pause(store: Store, clock: Clock, run_id: str) -> None:
    """Pause the run: it is not executed until resumed."""
    status = status_of(store, run_id)
    if status == RunStatus.PAUSED:
        return
    if status.terminal:
        raise IllegalTransition(
            run_id, status, "be paused", "only runs that have not ended can be paused"
        )
    with claimed(store, run_id) as claim:
        if claim is None:
            queue_request(store, run_id, "pause")
            return
        info = summarize(claim.spec, claim.entries)
        if not info.status.terminal and info.status != RunStatus.PAUSED:
            claim.set_ready(True)  # a worker finishes the pause if this process dies
            transition(claim, clock, info.status, RunStatus.PAUSED, attempt=info.attempt)
            paused(claim)


def resume(store: Store, clock: Clock, run_id: str) -> None:
    """Put a paused run back in the queue; it replays to where it was. Resuming a run a
    resume already put back does nothing."""
    spec, entries = store.read_run(run_id)
    status = summarize(spec, entries).status
    if _redone(entries, RunStatus.PENDING, "resumed"):
        store.mark_ready(run_id)  # in case the first try died before it could
        return
    if status != RunStatus.PAUSED:
        hint = (
            "it pauses at its next task boundary; resume it then"
            if ("pause" in store.requests(run_id))
            else "only paused runs can be resumed"
        )
        raise IllegalTransition(run_id, status, "be resumed", hint)
    with claimed(store, run_id) as claim:
        if claim is None:
            raise BadInput(f"run {run_id} is busy; try again")
        info = summarize(claim.spec, claim.entries)
        claim.clear_request("pause")
        claim.set_ready(True)  # queued before it is pending: no pending run is left unqueued
        transition(
            claim, clock, info.status, RunStatus.PENDING, attempt=info.attempt, reason="resumed"
        )


def wake(store: Store, run_id: str) -> None:
    """End the run's current sleep now."""
    status = status_of(store, run_id)
    if status != RunStatus.SLEEPING:
        raise IllegalTransition(run_id, status, "be woken", "only sleeping runs can be woken")
    store.request(run_id, "wake")


def retry(store: Store, clock: Clock, run_id: str) -> None:
    """Put a failed or cancelled run back in the queue as its next attempt: completed
    tasks replay from the journal, failed ones run again. Retrying a run a retry already
    put back does nothing."""
    spec, entries = store.read_run(run_id)
    status = summarize(spec, entries).status
    if _redone(entries, RunStatus.PENDING, "retried"):
        store.mark_ready(run_id)  # in case the first try died before it could
        return
    if status not in (RunStatus.FAILED, RunStatus.CANCELLED):
        raise IllegalTransition(
            run_id, status, "be retried", "only failed or cancelled runs can be retried"
        )
    with claimed(store, run_id) as claim:
        if claim is None:
            raise BadInput(f"run {run_id} is busy; try again")
        info = summarize(claim.spec, claim.entries)
        claim.clear_request("cancel")
        claim.clear_request("pause")
        claim.set_ready(True)  # queued before it is pending: no pending run is left unqueued
        transition(
            claim, clock, info.status, RunStatus.PENDING, attempt=info.attempt + 1, reason="retried"
        )


def _redone(entries: list[Entry], status: RunStatus, reason: str) -> bool:
    """Whether the run's last status change made it `status` for `reason`: a repeated
    retry or resume, whose first try may have been killed before it could say so."""
    last = last_status(entries)
    return last is not None and last.new == status and last.reason == reason


def send(
    store: Store,
    clock: Clock,
    run_id: str,
    event: str,
    data: Any,
    reference_id: str | None = None,
) -> bool:
    """Deliver an event to the run; False when `reference_id` was sent to it before."""
    try:
        check_text("the event name", event, 128)
        if reference_id is not None:
            check_text("the reference id", reference_id)
    except ValueError as error:
        raise BadInput(str(error)) from None
    now = clock.now()
    key = _mail_key(reference_id, now)
    spec, entries = store.read_run(run_id)
    status = summarize(spec, entries).status
    if status.terminal:
        if reference_id is not None and _delivered(store, run_id, entries, key):
            return False  # a resend (a webhook relay retrying, say): it was sent before
        raise IllegalTransition(run_id, status, "take events", "only runs that have not ended can")
    mail = Mail(
        key=key,
        kind="event",
        sent_at=now,
        order=time.time_ns(),
        name=event,
        data=data,
        reference_id=reference_id,
    )
    return store.post(run_id, mail)


def _mail_key(reference_id: str | None, now: datetime) -> str:
    """The key of an event's mail: one per reference id, else unique."""
    if reference_id is not None:
        return "ref-" + hashlib.sha256(reference_id.encode()).hexdigest()[:40]
    return f"{int(now.timestamp() * 1000):015d}-{secrets.token_hex(8)}"


def _delivered(store: Store, run_id: str, entries: list[Entry], key: str) -> bool:
    """Whether the event with mail `key` reached the run: journaled (the source of truth),
    or still in its inbox or among the reference ids it acknowledged."""
    journaled = any(isinstance(e, EventReceived) and e.key == key for e in entries)
    return journaled or store.posted(run_id, key)
