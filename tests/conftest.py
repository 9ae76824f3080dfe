"""Fixtures every tier may use: a PostgreSQL server, started only when a test asks, and
the store locations a tier can run its tests against (`tests/stores.py`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.postgres_server import fresh_schema, server_url

pytest_plugins = ["tests.stores"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of this session's PostgreSQL server (see `tests/postgres_server.py`)."""
    with server_url() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A URL naming a migrated schema of this test's own, dropped afterwards."""
    with fresh_schema(postgres_server) as url:
        yield url
