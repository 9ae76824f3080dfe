"""Claiming several runs in one query (`Store.claim_many`), as a worker with room for
many fills it: one round trip, however many runs, instead of one each.

The locks are tried in one statement, each once, and (`queued_only`) only on a run still
queued: a volatile function in a subquery's select list (kept apart by `OFFSET 0`) runs
once for each of its rows, and every row goes into the one value the statement returns,
the ids locked. They are kept in a setting of the session for the reads that follow,
whose statements start after the locks are held, so their snapshots see every commit of
each run's previous holder, as a lone claim's do (`claim`). When the query fails,
whatever it may have locked is let go: session locks outlive the query's transaction,
and a lock left behind would stack.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import psycopg

from ...errors import AikiError, RunNotFound
from ..base import Taken
from .claim import FirstLook, PostgresClaim
from .claim_session import ClaimSession
from .connect import Target
from .flushes import Flushers
from .keys import lock_key
from .queries import Statements, joined, results
from .records import entries_of, spec_of

# The ids and the keys, each as one text (`queries.joined`).
_TRIED = (
    "SELECT t.id, pg_try_advisory_lock(t.key) AS got FROM"
    " unnest(string_to_array(%s, ','), string_to_array(%s, ',')::bigint[]) AS t(id, key)"
)
_QUEUED = " JOIN runs r ON r.id = t.id AND r.ready"
_LOCK = (
    "SELECT set_config('aiki.claimed', coalesce(string_agg(id, ',') FILTER (WHERE got), ''),"
    " false) FROM ({tried} OFFSET 0) AS tried"
)
_CLAIMED = "string_to_array(current_setting('aiki.claimed'), ',')"
_READS = "; ".join(
    f"EXECUTE {name}({_CLAIMED})"
    for name in ("aiki_read_many", "aiki_mail_many", "aiki_requested_many")
)
_CLAIM = {
    queued: _LOCK.format(tried=_TRIED + (_QUEUED if queued else "")) + "; " + _READS
    for queued in (False, True)
}


def take_many(
    session: ClaimSession,
    flushers: Flushers,
    target: Target,
    run_ids: Sequence[str],
    queued_only: bool,
) -> list[Taken]:
    """`PostgresClaim.take` for each run (valid ids), in one query: its claim; None when
    a claim holds its lock, this session's included, or (`queued_only`) it is not
    queued; `RunNotFound` or `RunDamaged` (then it is not held)."""
    keys = {run_id: lock_key(target.schema, "run", run_id) for run_id in run_ids}
    with session.using() as db:
        session.unstick_locked(db)
        tried = {run_id: key for run_id, key in keys.items() if not session.holds(key)}
        read = _locked_reads(session, db, tried, queued_only)
        taken = {
            run_id: _taken(session, db, flushers, target, keys[run_id], run_id, read)
            for run_id in read.locked
        }
    return [taken.pop(run_id, None) for run_id in run_ids]


class _Read:
    """What the claiming query read: the runs locked, and their rows and first looks."""

    def __init__(self, locked: list[str], sets: list[list[Any]]) -> None:
        reads, mail, asked = sets
        self.locked = locked
        self.rows = {row[0]: row[1:] for row in reads}
        self.letters: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for run_id, key, letter in mail:
            self.letters[run_id].append((key, letter))
        self.asked: dict[str, set[str]] = defaultdict(set)
        for run_id, kind in asked:
            self.asked[run_id].add(kind)


def _locked_reads(
    session: ClaimSession, db: Statements, keys: dict[str, int], queued: bool
) -> _Read:
    """Try the runs' locks, then read the runs locked: one query."""
    try:
        claimed, *sets = results(db.query(_CLAIM[queued], joined(keys), joined(keys.values())))
    except psycopg.Error:
        with contextlib.suppress(psycopg.Error):  # the query's error is the one to raise
            session.unlock_perhaps_locked(db, keys.values())
        raise
    locked = [run_id for run_id in claimed[0][0].split(",") if run_id]
    for run_id in locked:
        session.hold_locked(keys[run_id])
    return _Read(locked, sets)


def _taken(
    session: ClaimSession,
    db: Statements,
    flushers: Flushers,
    target: Target,
    key: int,
    run_id: str,
    read: _Read,
) -> PostgresClaim | AikiError:
    """The locked run's claim, or why it cannot be had (then its lock is let go)."""
    where = f"run {run_id} in {target.location}"
    row = read.rows.get(run_id)
    try:
        if row is None:
            raise RunNotFound(run_id, target.location)
        spec, entries = spec_of(run_id, where, row[0]), entries_of(run_id, where, row[1])
    except AikiError as error:
        with contextlib.suppress(psycopg.Error):  # kept, to unlock before the next claim
            session.unlock_locked(db, key)
        return error
    first = FirstLook(bool(row[2]), read.letters[run_id], frozenset(read.asked[run_id]))
    return PostgresClaim(session, flushers, target.location, key, spec, entries, first)
