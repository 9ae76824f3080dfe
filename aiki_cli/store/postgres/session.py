"""The store's connections: one shared by its calls (one call at a time, made again after
it broke), the claims' own, kept idle for the next claims (as many as were ever held at
once, so a busy worker reuses them rather than connecting anew), and psycopg's errors
turned into aiki's.

A connection that broke (the server restarted, the network went) is dropped; the call
fails with `StoreUnreachable` (a `StoreUnwritable`, so a worker waits and tries again)
and the next call connects anew.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg

from ...errors import AikiError, SchemaNotReady
from .connect import Target, first_line, unreachable

Connection = psycopg.Connection[Any]
IDLE_KEPT = 32  # connections kept for the next claims at least; more when more were held


def translated(target: Target, error: psycopg.Error) -> AikiError:
    """aiki's error for a psycopg one: the connection broke, the tables went, or other."""
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        return unreachable(target, error)
    if isinstance(error, psycopg.errors.UndefinedTable | psycopg.errors.InvalidSchemaName):
        return SchemaNotReady(
            f"{target.location}: {first_line(error)}; run `aiki db migrate --store URL`"
        )
    return AikiError(f"{target.location}: {first_line(error)}")


@contextlib.contextmanager
def speaking(target: Target) -> Iterator[None]:
    """Raise aiki's error for a psycopg one raised inside."""
    try:
        yield
    except psycopg.Error as error:
        raise translated(target, error) from error


class Connections:
    """The shared connection and the idle ones of one store."""

    def __init__(self, target: Target, check: Callable[[Connection], None]) -> None:
        self.target = target
        self._check = check
        self._lock = threading.Lock()
        self._shared: Connection | None = None
        self._idle: list[Connection] = []
        self._idle_lock = threading.Lock()
        self._lent = 0  # taken and not given back
        self._most = IDLE_KEPT  # the idle connections kept: the most ever lent at once
        self._checked = False

    @contextlib.contextmanager
    def shared(self) -> Iterator[Connection]:
        """The shared connection, for one call; aiki's errors for psycopg's."""
        with self._lock:
            try:
                if self._shared is None or self._shared.closed:
                    self._shared = self._new()
                yield self._shared
            except psycopg.Error as error:
                if self._shared is not None and self._shared.broken:
                    self._shared.close()
                    self._shared = None
                    self.drop_idle()  # the server went away: they are gone too
                raise translated(self.target, error) from error

    def take(self) -> Connection:
        """A connection for a claim, whose commits do not wait for the disk: an idle one,
        or a new one. Give it back (`give_back`), even closed."""
        with self._idle_lock:
            self._lent += 1
            self._most = max(self._most, self._lent)
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed and not conn.broken:
                    return conn
        try:
            with speaking(self.target):
                return self._new(synchronous=False)
        except BaseException:
            with self._idle_lock:
                self._lent -= 1
            raise

    def give_back(self, conn: Connection) -> None:
        """Keep a connection taken for a claim for the next one, or close it."""
        with self._idle_lock:
            self._lent -= 1
            if not conn.closed and not conn.broken and len(self._idle) < self._most:
                self._idle.append(conn)
                return
        conn.close()

    def own(self) -> Connection:
        """A new connection with synchronous commits, for a session of the caller's own
        (a worker's registration, doctor's locks), which closes it."""
        with speaking(self.target):
            return self._new(synchronous=True)

    def _new(self, *, synchronous: bool = True) -> Connection:
        conn = self.target.connect(synchronous=synchronous)
        if not self._checked:
            try:
                self._check(conn)
            except BaseException:
                conn.close()
                raise
            self._checked = True
        return conn

    def drop_idle(self) -> None:
        """Close the idle connections (after the server dropped one, it dropped all)."""
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def close(self) -> None:
        with self._lock:
            if self._shared is not None:
                self._shared.close()
                self._shared = None
        self.drop_idle()
