"""The PostgreSQL store (`--store postgresql://…`): workers and commands on many hosts
sharing one database. psycopg is imported only when such a store is opened."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .connect import SCHEMES, is_postgres, target

if TYPE_CHECKING:
    from .store import PostgresStore

__all__ = ["SCHEMES", "is_postgres", "open_postgres"]


def open_postgres(location: str) -> PostgresStore:
    """The store at a `postgresql://` URL; `PostgresMissing` without psycopg. Connects on
    first use, and refuses a schema `aiki db migrate` has not made."""
    chosen = target(location)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        from ...errors import PostgresMissing

        raise PostgresMissing() from None
    from .store import PostgresStore

    return PostgresStore(chosen)
