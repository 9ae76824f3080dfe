"""The store's connections: one shared by its calls (one call at a time, made again after
it broke), new ones for the claim session (`claim_session`) and the flushes (`flushes`),
and psycopg's errors turned into aiki's.

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
    """The shared connection of one store, and new ones."""

    def __init__(self, target: Target, check: Callable[[Connection], None]) -> None:
        self.target = target
        self._check = check
        self._lock = threading.Lock()
        self._shared: Connection | None = None
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
                raise translated(self.target, error) from error

    def new_async(self) -> Connection:
        """A new connection whose commits do not wait for the disk (the claim session's,
        and the flush connections'): the caller closes it."""
        with speaking(self.target):
            return self._new(synchronous=False)

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

    def close(self) -> None:
        with self._lock:
            if self._shared is not None:
                self._shared.close()
                self._shared = None
