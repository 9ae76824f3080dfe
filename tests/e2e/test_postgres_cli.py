"""The CLI on a PostgreSQL store: choosing it, `aiki db migrate`, and each way of failing
to reach it said in one line (SPEC §7)."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres_server import opened, with_schema

from .support import Invoke, assert_one_error


@pytest.fixture
def bare_url(postgres_server: str) -> Iterator[str]:
    """A URL naming a schema nobody migrated; dropped afterwards if something made it."""
    from aiki_cli.store.postgres.connect import target

    schema = f"t_{secrets.token_hex(6)}"
    yield with_schema(postgres_server, schema)
    with target(postgres_server).connect() as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_every_command_refuses_a_schema_until_db_migrate_makes_it(
    cli: Invoke, bare_url: str
) -> None:
    from aiki_cli.store.postgres.schema import VERSION

    refused = cli("--store", bare_url, "list")
    assert_one_error(refused, 1, "no aiki tables", "aiki db migrate")
    first = cli("--store", bare_url, "db", "migrate")
    assert (first.code, first.stdout) == (0, "")
    assert f"from version 0 to {VERSION}" in first.stderr
    again = cli("db", "migrate", "--store", bare_url)
    assert (again.code, again.stdout) == (0, "")
    assert f"already at version {VERSION}" in again.stderr
    assert cli("--store", bare_url, "list", "--json").stdout == "[]\n"


def test_db_migrate_from_several_processes_at_once_makes_one_schema(
    aiki: Invoke, bare_url: str, tmp_path: Path
) -> None:
    from aiki_cli.store.postgres.schema import VERSION

    from .support import AIKI

    racers = [
        subprocess.Popen(
            [*AIKI, "--store", bare_url, "db", "migrate"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
        )
        for _ in range(4)
    ]
    outcomes = [(racer.wait(timeout=60), racer.communicate()) for racer in racers]
    assert [code for code, _ in outcomes] == [0, 0, 0, 0], outcomes
    said = sorted(err.strip().rpartition(": ")[2] for _, (_, err) in outcomes)
    assert said == [f"schema already at version {VERSION}"] * 3 + [
        f"schema migrated from version 0 to {VERSION}"
    ]
    assert aiki("--store", bare_url, "list", "--json").stdout == "[]\n"


def test_a_run_starts_executes_and_reads_back_on_postgres(
    cli: Invoke, postgres_url: str, tmp_path: Path
) -> None:
    done = cli(
        "--store",
        postgres_url,
        "start",
        "e2e-echo@1.0.0",
        "--input-json",
        '{"n": 4}',
        "--wait",
        "--json",
    )
    assert done.code == 0, done
    run = done.json()
    assert run["status"] == "completed"
    assert run["result"] == {"doubled": 8, "word": "HI!"}
    status = cli("--store", postgres_url, "status", run["id"], "--json")
    assert status.json() == run
    assert [ref["id"] for ref in cli("--store", postgres_url, "list", "--json").json()] == [
        run["id"]
    ]
    assert not (tmp_path / "runs").exists()  # nothing went to the default directory
    with opened(postgres_url) as store:
        entries = store.read_run(run["id"])[1]
    tasks = [entry.task for entry in entries if entry.type == "task_completed"]
    assert tasks == ["double", "shout"]  # each executed once, journaled in the database


@pytest.mark.parametrize("layer", ["env", "file"])
def test_aiki_store_and_the_store_key_choose_the_store(
    cli: Invoke, postgres_url: str, tmp_path: Path, layer: str
) -> None:
    env = {"AIKI_STORE": postgres_url} if layer == "env" else {}
    if layer == "file":
        (tmp_path / "aiki.yaml").write_text(f"store: {json.dumps(postgres_url)}\n")
    run_id = cli("start", "e2e-echo@1.0.0", env=env).run_id()
    with opened(postgres_url) as store:
        assert [ref.id for ref in store.list_runs()] == [run_id]
    assert not (tmp_path / "runs").exists()


def test_the_flag_beats_the_environment(cli: Invoke, postgres_url: str, tmp_path: Path) -> None:
    run_id = cli(
        "--store", "elsewhere", "start", "e2e-echo@1.0.0", env={"AIKI_STORE": postgres_url}
    ).run_id()
    assert (tmp_path / "elsewhere" / "run" / run_id).is_dir()
    with opened(postgres_url) as store:
        assert list(store.list_runs()) == []


def test_naming_the_store_twice_at_one_level_is_refused(cli: Invoke, postgres_url: str) -> None:
    both = cli("--store", postgres_url, "--runs-dir", "runs", "list")
    assert_one_error(both, 2, "--store and --runs-dir")
    url_as_dir = cli("list", env={"AIKI_RUNS_DIR": postgres_url})
    assert_one_error(url_as_dir, 2, "AIKI_RUNS_DIR takes a directory", "--store")


def test_a_server_that_is_not_there_is_one_line_naming_host_and_database(aiki: Invoke) -> None:
    outcome = aiki("--store", "postgresql://someone:secret@127.0.0.1:1/orders", "list")
    line = assert_one_error(outcome, 1, "'orders'", "127.0.0.1:1", "refused")
    assert "secret" not in line


def test_a_missing_database_is_one_line_naming_it(aiki: Invoke, postgres_server: str) -> None:
    url = postgres_server.replace("/postgres?", "/no_such_db?")
    outcome = aiki("--store", url, "list")
    assert_one_error(outcome, 1, "'no_such_db'", 'database "no_such_db" does not exist')


def test_an_unusable_schema_name_is_bad_input(cli: Invoke, postgres_server: str) -> None:
    outcome = cli("--store", with_schema(postgres_server, "Robert');DROP"), "list")
    assert_one_error(outcome, 2, "cannot be aiki's schema")


def test_without_psycopg_the_store_names_the_extra_to_install(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "sys.argv = ['aiki', '--store', 'postgresql://db.example/orders', 'list']\n"
        "from aiki_cli.cli.app import main; main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "error: A postgresql:// store needs psycopg (not installed): `pip install 'aiki[postgres]'`"
    ]
