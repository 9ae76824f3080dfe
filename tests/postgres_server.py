"""A PostgreSQL server for the tests: `AIKI_TEST_POSTGRES` when set, else a throwaway one.

The throwaway server is made with `initdb` and started with `pg_ctl` in a temporary
directory, listening only on a unix socket there, and is stopped and removed when the
session ends, even when it fails. As root, both run as the `postgres` user (initdb
refuses root). With no server binaries the PostgreSQL tests are skipped, unless `CI` is
set: then they fail, so CI never passes without them.

Each test gets a schema of its own (`fresh_schema`), dropped afterwards, so tests do not
see each other's runs.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from aiki_cli.store import Store

ENV = "AIKI_TEST_POSTGRES"
MAX_CONNECTIONS = 400  # several workers, each holding a connection per claimed run


def binaries() -> Path | None:
    """The directory holding `initdb`, `pg_ctl` and `postgres`, if any."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


def _as_server_user() -> list[str]:
    """The command prefix that runs as `postgres` when we are root."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


@contextlib.contextmanager
def throwaway_server(bin_dir: Path) -> Iterator[str]:
    """Start a server in a temp dir; yield its URL; stop and remove it however we leave."""
    home = Path(tempfile.mkdtemp(prefix="aiki-pg-"))
    data, log = home / "data", home / "log"
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(home, user.pw_uid, user.pw_gid)
    prefix = _as_server_user()
    started = False
    try:
        _run(
            [
                *prefix,
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ]
        )
        options = (
            f"-k {home} -c listen_addresses='' -c max_connections={MAX_CONNECTIONS}"
            " -c wal_writer_delay=10s"  # async commits stay unflushed: tests can see a flush
        )
        started = True
        _run(
            [
                *prefix,
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        yield f"postgresql://postgres@/postgres?host={home}"
    finally:
        if started:
            subprocess.run(
                [
                    *prefix,
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(home, ignore_errors=True)


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{command[-1]} failed: {done.stdout}{done.stderr}")


@contextlib.contextmanager
def server_url() -> Iterator[str]:
    """The URL of a server for this session (see the module's docstring)."""
    given = os.environ.get(ENV)
    if given:
        yield given
        return
    bin_dir = binaries()
    if bin_dir is None:
        message = f"no PostgreSQL server binaries (initdb) and {ENV} is not set"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with throwaway_server(bin_dir) as url:
        yield url


def with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


@contextlib.contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """A URL naming a new, migrated schema of its own; the schema is dropped afterwards."""
    from aiki_cli.store.postgres.connect import target
    from aiki_cli.store.postgres.schema import migrate

    schema = f"t_{secrets.token_hex(6)}"
    located = with_schema(url, schema)
    migrate(target(located))
    try:
        yield located
    finally:
        with target(url).connect() as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@contextlib.contextmanager
def opened(url: str) -> Iterator[Store]:
    """The PostgreSQL store at `url`, its connections closed afterwards."""
    from aiki_cli.store import open_store

    store = open_store(url)
    try:
        yield store
    finally:
        store.close()  # type: ignore[attr-defined]
