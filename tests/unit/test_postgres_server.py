"""The tests' PostgreSQL server (`tests/postgres_server.py`): without server binaries the
PostgreSQL tests skip on a developer's machine and fail in CI, never pass unseen."""

from __future__ import annotations

import pytest

from tests import postgres_server


@pytest.fixture
def no_binaries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(postgres_server.ENV, raising=False)
    monkeypatch.setattr(postgres_server, "binaries", lambda: None)


def test_without_binaries_outside_ci_the_tests_skip(
    no_binaries: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    binaries_missing = pytest.raises(pytest.skip.Exception, match="no PostgreSQL server")
    with binaries_missing, postgres_server.server_url():
        pass


def test_without_binaries_in_ci_the_tests_fail(
    no_binaries: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "1")
    binaries_missing = pytest.raises(pytest.fail.Exception, match="no PostgreSQL server")
    with binaries_missing, postgres_server.server_url():
        pass


def test_a_given_server_is_used_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(postgres_server.ENV, "postgresql://db.example/ci")
    monkeypatch.setattr(postgres_server, "binaries", lambda: pytest.fail("not looked for"))
    with postgres_server.server_url() as url:
        assert url == "postgresql://db.example/ci"
