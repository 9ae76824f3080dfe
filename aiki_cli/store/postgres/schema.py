"""aiki's tables in their PostgreSQL schema, the migrations that make them, and the
version table that says which migrations a database has.

`migrate` is idempotent and safe from several hosts at once: it holds an advisory lock
while it looks at the version and applies what is missing. `check` is what every other
command does first: a schema that is missing or older is refused with one line saying to
run `aiki db migrate`; a newer one (a newer aiki migrated it) with one saying to upgrade.
"""

from __future__ import annotations

from typing import Any

from ...errors import SchemaNotReady
from .connect import Target
from .keys import lock_key

# Each migration in order; a database at version N has had the first N applied.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE runs (
        id text PRIMARY KEY,
        seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
        workflow text NOT NULL,
        version text NOT NULL,
        created_at timestamptz NOT NULL,
        idempotency_key text,
        parent_id text,
        status text NOT NULL DEFAULT 'pending',
        ready boolean NOT NULL DEFAULT true,
        spec text NOT NULL,
        UNIQUE (workflow, idempotency_key)
    );
    CREATE INDEX runs_ready ON runs (id) WHERE ready;
    CREATE INDEX runs_parent ON runs (parent_id) WHERE parent_id IS NOT NULL;
    CREATE TABLE journal (
        run_id text NOT NULL REFERENCES runs ON DELETE CASCADE,
        seq integer NOT NULL,
        line text NOT NULL,
        PRIMARY KEY (run_id, seq)
    );
    CREATE TABLE requests (
        run_id text NOT NULL REFERENCES runs ON DELETE CASCADE,
        kind text NOT NULL,
        PRIMARY KEY (run_id, kind)
    );
    CREATE TABLE mail (
        run_id text NOT NULL REFERENCES runs ON DELETE CASCADE,
        key text NOT NULL,
        letter text NOT NULL,
        acked boolean NOT NULL DEFAULT false,
        PRIMARY KEY (run_id, key)
    );
    CREATE TABLE timers (
        kind text NOT NULL,
        target text NOT NULL,
        due timestamptz NOT NULL,
        PRIMARY KEY (kind, target)
    );
    CREATE INDEX timers_due ON timers (due);
    CREATE TABLE schedules (
        id text PRIMARY KEY,
        body text NOT NULL
    );
    CREATE TABLE workers (
        id text PRIMARY KEY,
        info text NOT NULL,
        lock_hi bigint NOT NULL,
        lock_lo bigint NOT NULL
    );
    CREATE FUNCTION notify_ready() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify(TG_ARGV[0], TG_TABLE_NAME);
        RETURN NULL;
    END $$;
    """,
    # A journal's lines are written only by the claim on their run, which exists while
    # its lock is held, and go with the run when it is removed: the foreign key's check,
    # a lock written on the run's row at every append, bought nothing (~20 µs of the
    # server's CPU an append; benchmarks/README.md §9). `aiki doctor` finds lines
    # whose run is gone.
    "ALTER TABLE journal DROP CONSTRAINT IF EXISTS journal_run_id_fkey",
)
VERSION = len(MIGRATIONS)

# The wake-up triggers name the channel, which holds the schema's name.
_TRIGGERS = """
    CREATE TRIGGER runs_queued AFTER INSERT OR UPDATE OF ready ON runs
        FOR EACH ROW WHEN (NEW.ready) EXECUTE FUNCTION notify_ready('{channel}');
    CREATE TRIGGER timers_set AFTER INSERT OR UPDATE OF due ON timers
        FOR EACH ROW EXECUTE FUNCTION notify_ready('{channel}');
"""


def channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel on which a schema's writers wake its workers."""
    return f"aiki_{schema}"


def migrate(target: Target) -> tuple[int, int]:
    """Bring the schema up to `VERSION`; the versions before and after."""
    with target.connect() as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (lock_key("", "migrate", target.schema),))
        try:
            with conn.transaction():
                before = _version(conn, target.schema, create=True)
                if before > VERSION:
                    raise SchemaNotReady(f"{target.location}: {_newer(before)}")
                for number in range(before, VERSION):
                    _apply(conn, target.schema, number)
                return before, VERSION
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (lock_key("", "migrate", target.schema),))


def check(conn: Any, target: Target) -> None:
    """Refuse a schema that is missing, older or newer than this aiki's."""
    found = _version(conn, target.schema, create=False)
    migrate = "run `aiki db migrate --store URL` first"
    if found == 0:
        problem = f"no aiki tables in schema {target.schema}; {migrate}"
    elif found < VERSION:
        problem = f"aiki's tables are at version {found}, this aiki needs {VERSION}; {migrate}"
    elif found > VERSION:
        problem = _newer(found)
    else:
        return
    raise SchemaNotReady(f"{target.location}: {problem}")


def _newer(found: int) -> str:
    newer = f"aiki's tables are at version {found}, newer than this aiki reads ({VERSION})"
    return f"{newer}; upgrade aiki"


def _version(conn: Any, schema: str, *, create: bool) -> int:
    """The schema's version, 0 when it has no version table (made, with `create`)."""
    exists = conn.execute(
        "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = 'schema_version'",
        (schema,),
    ).fetchone()
    if exists is None:
        if not create:
            return 0
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        conn.execute(f"CREATE TABLE {schema}.schema_version (version integer NOT NULL)")
        conn.execute(f"INSERT INTO {schema}.schema_version VALUES (0)")
    row = conn.execute(f"SELECT version FROM {schema}.schema_version").fetchone()
    return int(row[0]) if row else 0


def _apply(conn: Any, schema: str, number: int) -> None:
    conn.execute(f"SET LOCAL search_path TO {schema}")
    conn.execute(MIGRATIONS[number])
    if number == 0:
        conn.execute(_TRIGGERS.format(channel=channel(schema)))
    conn.execute("UPDATE schema_version SET version = %s", (number + 1,))
