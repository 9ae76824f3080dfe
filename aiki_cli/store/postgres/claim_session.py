"""The session that holds a store's claims: one connection on which every claim of the
store takes its run's advisory lock and makes its writes, instead of a connection each
(the server starts a backend for each connection: ~7.6 ms of its CPU). Claims are taken
by one event loop, one at a time, so sharing the session costs no concurrency.

Session advisory locks stack: `pg_try_advisory_lock` on a key the session already holds
succeeds again, and then needs two unlocks. So the session keeps the keys its claims
hold, refuses a claim of a run one of its claims still holds (a worker may try to claim
a run whose claim a thread releases later), and unlocks each key once, when its claim
is released. An unlock that failed on a healthy connection keeps its key held (still
refused) and is tried again before the next claim.

A session whose connection broke (the server restarted, the network went, its backend
was ended) has lost every lock it held: every claim on it is unwritable from then on
(`StoreUnreachable`), and the next claim opens a fresh session. A broken session is never
reconnected under its claims. A statement that failed on a healthy connection fails its
call alone: the session, and the other claims' locks, stay.

One call at a time: the event loop's calls, the threads releasing claims, and the group
commit's threads take the session's lock. The session prepares, when it opens, the
statements every claim makes (`queries`).
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Iterable, Iterator

import psycopg

from ...errors import AikiError, StoreUnreachable
from .connect import Target
from .keys import lock_key
from .queries import Statements, joined, prepare
from .session import Connection, Connections, speaking, translated

# The ids and the keys, each as one text (`queries.joined`).
_LET_GO = (
    "UPDATE runs SET ready = false WHERE id = ANY(string_to_array(%s, ',')) AND ready;"
    " SELECT pg_advisory_unlock(key::bigint) FROM unnest(string_to_array(%s, ',')) AS key"
)


class ClaimSession:
    """One connection holding the advisory locks of many claims and making their writes."""

    def __init__(self, conn: Connection, target: Target) -> None:
        self._conn = conn
        self._statements = Statements(conn)
        self._target = target
        self._lock = threading.Lock()
        self._held: set[int] = set()  # the keys this session's claims hold, each once
        self._stuck: set[int] = set()  # held keys whose unlock failed: to unlock again
        self.broken = False
        self.pid = conn.info.backend_pid
        # A lock of its own for as long as it lives: whoever fails to take it knows the
        # session (and every lock it holds) is still there (`flushes`).
        self.token = lock_key(target.schema, "session", secrets.token_hex(16))
        with speaking(target):
            conn.execute("SELECT pg_advisory_lock(%s)", (self.token,))
            prepare(self._statements)

    @contextlib.contextmanager
    def using(self) -> Iterator[Statements]:
        """The connection's statements, for one call; aiki's errors for psycopg's. A call
        that found the connection broken breaks the session."""
        with self._lock:
            if self.broken:
                self._conn.close()
                raise self.gone()
            try:
                yield self._statements
            except psycopg.Error as error:
                raise translated(self._target, error) from error
            finally:
                if self._conn.broken or self._conn.closed:
                    self.broken = True
                    self._conn.close()

    def lost(self) -> None:
        """Its backend was found gone (by a flush on another connection): every claim on
        it is unwritable. Closed by its next call, which holds the session's lock."""
        self.broken = True

    def gone(self) -> StoreUnreachable:
        return StoreUnreachable(
            self._target.location,
            f"{self._target.server}: the session holding this run's claim ended",
        )

    def holds(self, key: int) -> bool:
        """Whether a claim of this session holds `key` (a second lock would stack)."""
        return key in self._held

    def hold_locked(self, key: int) -> None:
        """`key` was just locked on the session (called with the session in use)."""
        self._held.add(key)

    def unlock_locked(self, db: Statements, key: int) -> None:
        """Unlock `key` once; on failure, keep it held and unlock it before the next claim."""
        try:
            db.execute("SELECT pg_advisory_unlock(%s)", (key,))
        except psycopg.Error:
            self._stuck.add(key)
            raise
        self._stuck.discard(key)
        self._held.discard(key)

    def unlock_perhaps_locked(self, db: Statements, keys: Iterable[int]) -> None:
        """Unlock each key a failed query may have locked (session locks outlive its
        transaction; unlocking a key not held only warns), unless the connection broke
        and the locks went with it. The first unlock that failed too is raised once
        every key was tried; its key is unlocked again before the next claim."""
        if db.broken:
            return
        failed: psycopg.Error | None = None
        for key in keys:
            self.hold_locked(key)
            try:
                self.unlock_locked(db, key)
            except psycopg.Error as error:
                failed = failed or error
        if failed is not None:
            raise failed

    def unstick_locked(self, db: Statements) -> None:
        """Unlock the keys whose unlock failed before."""
        for key in sorted(self._stuck):
            self.unlock_locked(db, key)

    def let_go_many(self, keys: list[int], leaving: list[str]) -> None:
        """Unlock released claims' keys once the runs `leaving` are out of the queue, in
        one query. Raises nothing: a broken session's locks went with it, and when the
        query failed on a healthy one, each key is unlocked again before the next claim
        (unlocking a key not held only warns)."""
        if self.broken or not keys:
            return
        held = set(keys)
        with contextlib.suppress(AikiError), self.using() as db:
            try:
                db.query(_LET_GO, joined(leaving), joined(keys))
            except psycopg.Error:
                self._stuck |= held
                raise
            self._stuck -= held
            self._held -= held

    def close(self) -> None:
        with self._lock:
            self.broken = True
            self._conn.close()


class SessionSlot:
    """A store's current claim session: opened at the first claim, and anew at the first
    claim after it broke."""

    def __init__(self, connections: Connections) -> None:
        self._connections = connections
        self._lock = threading.Lock()
        self._session: ClaimSession | None = None

    def current(self) -> ClaimSession:
        with self._lock:
            if self._session is None or self._session.broken:
                conn = self._connections.new_async()
                try:
                    self._session = ClaimSession(conn, self._connections.target)
                except BaseException:
                    conn.close()
                    raise
            return self._session

    def close(self) -> None:
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            session.close()
