"""Changing a run from outside: cancel (with its descendants), pause, resume, wake, retry
in place, and sending events.

Each acts at once when no worker executes the run: it takes the run's claim and journals
the change. When a worker holds the run, it leaves a request or mail instead, which the
worker acts on at the run's next task boundary (or when it next claims the run).

A process can die between any two steps, so each change is ordered the same way: what
makes a worker look at the run (its request, its place in the ready queue) comes first,
then the journal entry (the truth), then the steps derived from it (telling the parent,
cancelling the children, dropping the timer), each safe to repeat. The run leaves the
queue last: until then, whoever claims it next re-derives and finishes those steps, and
repeating the command does the same.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from .clock import Clock
from .entry import ChildStarted, Entry, EventReceived, StatusChanged
from .errors import BadInput, IllegalTransition
from .journal import last_status, summarize
from .naming import check_text
from .record import RunSpec
from .status import RunStatus, check_transition
from .store import Claim, Mail, Request, Store

log = logging.getLogger("aiki.control")


def transition(
    claim: Claim, clock: Clock, old: RunStatus, new: RunStatus, *, attempt: int = 1, **fields: Any
) -> RunStatus:
    """Journal a status change the transition table allows; keep the ready queue in step."""
    check_transition(claim.spec.id, old, new)
    # Starting to run needs no fsync of its own: losing it to a power cut only makes the
    # run look pending, and the next durable append of the run flushes it anyway.
    entry = StatusChanged(at=clock.now(), old=old, new=new, attempt=attempt, **fields)
    claim.append(entry, sync=new != RunStatus.RUNNING)
    # A waiting run stays queued until its timer is set, a paused one until `paused` has
    # run, and an ended one until `finish` has told its parent: a worker that dies in
    # between leaves the run queued, and whoever claims it next does what was left undone.
    return new


def finish(store: Store, claim: Claim, clock: Clock, status: RunStatus) -> None:
    """After a run ended (durably): if it was cancelled, cancel its children and drop the
    request; wake its parent; then take it out of the queue. Safe to repeat, and repeated
    by whoever claims the ended run while it is still queued."""
    claim.flush()
    if status == RunStatus.CANCELLED:
        cancel_children(store, clock, claim.entries)
        claim.clear_request("cancel")
    tell_parent(store, clock, claim.spec)
    claim.set_ready(False)


def paused(claim: Claim) -> None:
    """After a run's pause was journaled: drop the pause request and the run's timer, then
    take it out of the queue. Safe to repeat, as `finish` is."""
    claim.clear_request("pause")
    claim.set_timer(None)
    claim.set_ready(False)


@contextmanager
def _claimed(store: Store, run_id: str) -> Iterator[Claim | None]:
    claim = store.claim(run_id)
    try:
        yield claim
    finally:
        if claim is not None:
            claim.release()


def _status(store: Store, run_id: str) -> RunStatus:
    return summarize(*store.read_run(run_id)).status


def _refuse(run_id: str, status: RunStatus, action: str, hint: str) -> IllegalTransition:
    return IllegalTransition(run_id, status, action, hint)


def cancel(store: Store, clock: Clock, run_id: str) -> None:
    """Cancel the run and every descendant that has not ended.

    Cancelling a cancelled run finishes what a cancel killed midway left undone; a
    completed or failed run cannot be cancelled.
    """
    status = _status(store, run_id)
    if status.terminal and status != RunStatus.CANCELLED:
        raise _refuse(run_id, status, "be cancelled", "only runs that have not ended can be")
    if status != RunStatus.CANCELLED:
        _request(store, run_id, "cancel")  # a worker cancels the run if this process dies
    with _claimed(store, run_id) as claim:
        if claim is not None:
            _cancel_claimed(store, claim, clock)
            return
    # Its worker acts on the request at the next task boundary; the children stop now.
    cancel_children(store, clock, store.read_run(run_id)[1])


def _cancel_claimed(store: Store, claim: Claim, clock: Clock) -> None:
    info = summarize(claim.spec, claim.entries)
    status = info.status
    if not status.terminal:
        status = transition(
            claim, clock, status, RunStatus.CANCELLED, attempt=info.attempt, reason="cancelled"
        )
    claim.set_timer(None)
    finish(store, claim, clock, status)


def _request(store: Store, run_id: str, kind: Request) -> None:
    """Leave a request for the run. Queued first too: a process dying after it left the
    request, before it queued the run, leaves the run queued all the same."""
    store.mark_ready(run_id)
    store.request(run_id, kind)


def tell_parent(store: Store, clock: Clock, spec: RunSpec) -> None:
    """Wake the run's parent, if it has one, because the run has ended. The parent is
    queued before the mail is posted, as `_request` does, for the same reason."""
    if spec.parent_id is None:
        return
    mail = Mail(key=f"child-{spec.id}", kind="child", sent_at=clock.now(), child_id=spec.id)
    try:
        store.mark_ready(spec.parent_id)
        store.post(spec.parent_id, mail)
    except LookupError:
        log.warning("run %s: its parent %s is gone", spec.id, spec.parent_id)


def cancel_children(store: Store, clock: Clock, entries: list[Entry]) -> None:
    """Cancel the children (started in the journal `entries`) that have not ended, and
    theirs; finish the cancel of those a cancel killed midway left cancelled."""
    for entry in entries:
        if isinstance(entry, ChildStarted):
            status = _status(store, entry.child)
            if not status.terminal or status == RunStatus.CANCELLED:
                cancel(store, clock, entry.child)


def pause(store: Store, clock: Clock, run_id: str) -> None:
    """Pause the run: it is not executed until resumed."""
    status = _status(store, run_id)
    if status == RunStatus.PAUSED:
        return
    if status.terminal:
        raise _refuse(run_id, status, "be paused", "only runs that have not ended can be paused")
    with _claimed(store, run_id) as claim:
        if claim is None:
            _request(store, run_id, "pause")
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
        raise _refuse(run_id, status, "be resumed", hint)
    with _claimed(store, run_id) as claim:
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
    status = _status(store, run_id)
    if status != RunStatus.SLEEPING:
        raise _refuse(run_id, status, "be woken", "only sleeping runs can be woken")
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
        raise _refuse(run_id, status, "be retried", "only failed or cancelled runs can be retried")
    with _claimed(store, run_id) as claim:
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
        raise _refuse(run_id, status, "take events", "only runs that have not ended can")
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
