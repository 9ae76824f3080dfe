"""Changing a run from outside: cancel (with its descendants), pause, resume, wake, retry
in place, and sending events.

Each acts at once when no worker executes the run: it takes the run's claim and journals
the change. When a worker holds the run, it leaves a request or mail instead, which the
worker acts on at the run's next task boundary (or when it next claims the run).
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
from .journal import summarize
from .naming import check_text
from .record import RunSpec
from .status import RunStatus, check_transition
from .store import Claim, Mail, Store

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
    if new == RunStatus.PAUSED:
        claim.set_ready(False)
    # A waiting run stays queued until its timer is set, and an ended one until `finish`
    # has told its parent: a worker that dies in between leaves the run queued, and
    # whoever claims it next does what was left undone.
    return new


def finish(store: Store, claim: Claim, clock: Clock) -> None:
    """After a run ended (durably): wake its parent, then take it out of the queue."""
    claim.flush()
    tell_parent(store, clock, claim.spec)
    claim.set_ready(False)


def end(
    store: Store, claim: Claim, clock: Clock, old: RunStatus, new: RunStatus, **fields: Any
) -> None:
    """`transition` to an end state, then `finish`."""
    transition(claim, clock, old, new, **fields)
    finish(store, claim, clock)


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

    Cancelling a cancelled run does nothing; a completed or failed run cannot be.
    """
    status = _status(store, run_id)
    if status != RunStatus.CANCELLED:
        if status.terminal:
            raise _refuse(run_id, status, "be cancelled", "only runs that have not ended can be")
        with _claimed(store, run_id) as claim:
            if claim is None:
                store.request(run_id, "cancel")
            else:
                _cancel_claimed(store, claim, clock)
    cancel_children(store, clock, run_id)


def _cancel_claimed(store: Store, claim: Claim, clock: Clock) -> None:
    info = summarize(claim.spec, claim.entries)
    if not info.status.terminal:
        end(
            store,
            claim,
            clock,
            info.status,
            RunStatus.CANCELLED,
            attempt=info.attempt,
            reason="cancelled",
        )
        claim.set_timer(None)


def tell_parent(store: Store, clock: Clock, spec: RunSpec) -> None:
    """Wake the run's parent, if it has one, because the run has ended."""
    if spec.parent_id is None:
        return
    mail = Mail(key=f"child-{spec.id}", kind="child", sent_at=clock.now(), child_id=spec.id)
    try:
        store.post(spec.parent_id, mail)
    except LookupError:
        log.warning("run %s: its parent %s is gone", spec.id, spec.parent_id)


def cancel_children(store: Store, clock: Clock, run_id: str) -> None:
    """Cancel the run's children that have not ended, and theirs."""
    for entry in store.read_run(run_id)[1]:
        if isinstance(entry, ChildStarted) and not _status(store, entry.child).terminal:
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
            store.request(run_id, "pause")
            return
        info = summarize(claim.spec, claim.entries)
        if not info.status.terminal and info.status != RunStatus.PAUSED:
            transition(claim, clock, info.status, RunStatus.PAUSED, attempt=info.attempt)
            claim.set_timer(None)


def resume(store: Store, clock: Clock, run_id: str) -> None:
    """Put a paused run back in the queue; it replays to where it was."""
    status = _status(store, run_id)
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
        transition(
            claim, clock, info.status, RunStatus.PENDING, attempt=info.attempt, reason="resumed"
        )
        claim.clear_request("pause")
        claim.set_ready(True)


def wake(store: Store, run_id: str) -> None:
    """End the run's current sleep now."""
    status = _status(store, run_id)
    if status != RunStatus.SLEEPING:
        raise _refuse(run_id, status, "be woken", "only sleeping runs can be woken")
    store.request(run_id, "wake")


def retry(store: Store, clock: Clock, run_id: str) -> None:
    """Put a failed or cancelled run back in the queue as its next attempt: completed
    tasks replay from the journal, failed ones run again."""
    status = _status(store, run_id)
    if status not in (RunStatus.FAILED, RunStatus.CANCELLED):
        raise _refuse(run_id, status, "be retried", "only failed or cancelled runs can be retried")
    with _claimed(store, run_id) as claim:
        if claim is None:
            raise BadInput(f"run {run_id} is busy; try again")
        info = summarize(claim.spec, claim.entries)
        transition(
            claim, clock, info.status, RunStatus.PENDING, attempt=info.attempt + 1, reason="retried"
        )
        claim.clear_request("cancel")
        claim.clear_request("pause")
        claim.set_ready(True)


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
