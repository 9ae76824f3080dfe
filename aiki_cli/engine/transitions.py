"""A run's status transitions and the steps that follow them, as the engine (and the
commands of `commands.py`) take them: journal a change the transition table allows; after
an end, cancel the children of a cancelled run, tell the parent and leave the queue; after
a pause, drop its request and timer. Cancelling lives here because a run that ends
cancelled cancels its descendants.

A process can die between any two steps, so each change is ordered the same way: what
makes a worker look at the run (its request, its place in the ready queue) comes first,
then the journal entry (the truth), then the steps derived from it (telling the parent,
cancelling the children, dropping the timer), each safe to repeat. The run leaves the
queue last: until then, whoever claims it next re-derives and finishes those steps, and
repeating the command does the same.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import IllegalTransition
from ..model.entry import ChildStarted, Entry, StatusChanged
from ..model.journal import summarize
from ..model.runinfo import RunSpec
from ..model.status import RunStatus, check_transition
from ..store import Claim, Mail, Request, Store
from ..values.clock import Clock

log = logging.getLogger("aiki.control")


def transition(
    claim: Claim, clock: Clock, old: RunStatus, new: RunStatus, *, attempt: int = 1, **fields: Any
) -> RunStatus:
    """Journal a status change the transition table allows; keep the ready queue in step."""
    transition_unless((), claim, clock, old, new, attempt=attempt, **fields)
    return new


def transition_unless(
    kinds: tuple[Request, ...],
    claim: Claim,
    clock: Clock,
    old: RunStatus,
    new: RunStatus,
    *,
    attempt: int,
    **fields: Any,
) -> frozenset[str]:
    """`transition`, unless requests of `kinds` wait: then nothing is journaled. The
    requests found, in the same look as the append (`Claim.append_unless`)."""
    check_transition(claim.spec.id, old, new)
    # Starting to run needs no fsync of its own: losing it to a power cut only makes the
    # run look pending, and the next durable append of the run flushes it anyway.
    entry = StatusChanged(at=clock.now(), old=old, new=new, attempt=attempt, **fields)
    sync = new != RunStatus.RUNNING
    if kinds:
        return claim.append_unless(kinds, entry, sync=sync)
    claim.append(entry, sync=sync)
    # A waiting run stays queued until its timer is set, a paused one until `paused` has
    # run, and an ended one until `finish` has told its parent: a worker that dies in
    # between leaves the run queued, and whoever claims it next does what was left undone.
    return frozenset()


def finish(store: Store, claim: Claim, clock: Clock, status: RunStatus) -> None:
    """After a run ended (durably): if it was cancelled, cancel its children and drop the
    request; wake its parent; then take it out of the queue. Safe to repeat, and repeated
    by whoever claims the ended run while it is still queued."""
    claim.flush()
    if status == RunStatus.CANCELLED:
        cancel_children(store, clock, claim.entries)
        claim.clear_request("cancel")
    tell_parent(store, clock, claim.spec)
    claim.set_ready(False, at_release=True)


def paused(claim: Claim) -> None:
    """After a run's pause was journaled: drop the pause request and the run's timer, then
    take it out of the queue. Safe to repeat, as `finish` is."""
    claim.clear_request("pause")
    claim.set_timer(None)
    claim.set_ready(False, at_release=True)


@contextmanager
def claimed(store: Store, run_id: str) -> Iterator[Claim | None]:
    """The run's claim, released on leaving; None while another process holds it."""
    claim = store.claim(run_id)
    try:
        yield claim
    finally:
        if claim is not None:
            claim.release()


def status_of(store: Store, run_id: str) -> RunStatus:
    """The run's status as its journal says now."""
    return summarize(*store.read_run(run_id)).status


def cancel(store: Store, clock: Clock, run_id: str) -> None:
    """Cancel the run and every descendant that has not ended.

    Cancelling a cancelled run finishes what a cancel killed midway left undone; a
    completed or failed run cannot be cancelled.
    """
    status = status_of(store, run_id)
    if status.terminal and status != RunStatus.CANCELLED:
        raise IllegalTransition(
            run_id, status, "be cancelled", "only runs that have not ended can be"
        )
    if status != RunStatus.CANCELLED:
        queue_request(store, run_id, "cancel")  # a worker cancels the run if this process dies
    with claimed(store, run_id) as claim:
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


def queue_request(store: Store, run_id: str, kind: Request) -> None:
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
            status = status_of(store, entry.child)
            if not status.terminal or status == RunStatus.CANCELLED:
                cancel(store, clock, entry.child)
