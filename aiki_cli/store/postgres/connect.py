"""Reaching the server: a `postgresql://` URL read into libpq settings and aiki's schema,
connections made with keepalives so a vanished host is noticed in seconds, and every
way a connection fails turned into one line naming the host and the database.

psycopg is imported here, when a PostgreSQL store is opened, and nowhere else first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit

from ...errors import BadInput, PostgresMissing, StoreUnreachable

if TYPE_CHECKING:
    import psycopg

SCHEMES = ("postgresql://", "postgres://")
DEFAULT_SCHEMA = "aiki"
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_SEARCH_PATH = re.compile(r"-c\s*search_path=([^\s,]+)")

# A vanished host (not just a dead process) is noticed within seconds: the kernel probes
# an idle connection after 5 s, every 2 s, gives up after 3 unanswered probes, and fails
# a write unacknowledged for 10 s. A setting given in the URL wins over these.
KEEPALIVES = {
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "3",
    "tcp_user_timeout": "10000",
    "connect_timeout": "10",
    "application_name": "aiki",  # what pg_stat_activity shows a DBA
}


def is_postgres(location: str) -> bool:
    return location.startswith(SCHEMES)


@dataclass(frozen=True)
class Target:
    """Where aiki's tables are: the libpq URL (without `schema=`) and the schema."""

    url: str
    schema: str
    location: str  # the URL without its password, for messages

    @property
    def server(self) -> str:
        """The database and where it is, as messages name them: "database 'x' on host:5432"."""
        settings = _query(self.url)
        parts = urlsplit(self.url)
        database = settings.get("dbname") or parts.path.lstrip("/") or "(the user's)"
        host = settings.get("host") or parts.hostname or "the local socket"
        port = settings.get("port") or parts.port
        return f"database {database!r} on {host}{f':{port}' if port else ''}"

    def connect(self, *, synchronous: bool = True) -> psycopg.Connection[Any]:
        """A new autocommit connection whose search path is the schema, timestamps UTC.
        With `synchronous` False, its commits return before their WAL is flushed (a
        claim's appends, made durable by its next flush)."""
        driver = _psycopg()
        options = f"-c search_path={self.schema} -c TimeZone=UTC"
        if not synchronous:
            options += " -c synchronous_commit=off"
        settings = {**KEEPALIVES, **_query(self.url)}
        settings["options"] = f"{settings.get('options', '')} {options}".strip()
        try:
            conn = driver.Connection.connect(self.url, autocommit=True, **settings)
            return cast("psycopg.Connection[Any]", conn)
        except driver.Error as error:
            raise unreachable(self, error) from None


def target(location: str) -> Target:
    """The target a `postgresql://` location names; `BadInput` for a schema aiki cannot use."""
    scheme, netloc, path, query, _ = urlsplit(location)
    pairs = parse_qsl(query, keep_blank_values=True)
    schema = DEFAULT_SCHEMA
    rest = []
    for name, value in pairs:
        if name == "schema":
            schema = value
        else:
            rest.append((name, value))
            found = _SEARCH_PATH.search(value) if name == "options" else None
            schema = found.group(1) if found and "schema" not in dict(pairs) else schema
    if not SCHEMA_NAME.fullmatch(schema):
        raise BadInput(
            f"{schema!r} cannot be aiki's schema: use lower-case letters, digits and _"
            " (as in ?schema=aiki)"
        )
    query = urlencode(rest, safe="/")
    url = f"{scheme}://{netloc}{path}{'?' + query if query else ''}"
    return Target(url, schema, _location(scheme, netloc, path, rest, schema))


def _location(
    scheme: str, netloc: str, path: str, query: list[tuple[str, str]], schema: str
) -> str:
    """The URL as messages show it: no password, the socket directory and the schema."""
    host = netloc.rpartition("@")[2]
    user = netloc.rpartition("@")[0].partition(":")[0]
    shown = [(name, value) for name, value in query if name in ("host", "port", "dbname")]
    if schema != DEFAULT_SCHEMA:
        shown.append(("schema", schema))
    suffix = f"?{urlencode(shown, safe='/')}" if shown else ""
    return f"{scheme}://{user + '@' if user else ''}{host}{path}{suffix}"


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise PostgresMissing() from None
    return psycopg


def unreachable(target: Target, error: Exception) -> StoreUnreachable:
    """One line for a connection that failed or broke: what the server or libpq said."""
    return StoreUnreachable(target.location, f"{target.server}: {first_line(error)}")


def first_line(error: Exception) -> str:
    """The line of a psycopg error that says what went wrong (libpq puts it last, after
    "connection to server at … failed:")."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    text = lines[0]
    if "failed:" in text:
        text = text.rpartition("failed:")[2].strip() or text
    return text
