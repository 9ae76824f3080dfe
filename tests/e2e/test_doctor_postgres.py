"""`aiki doctor [--repair] [--json]` on a PostgreSQL store, through the real executable:
the same report and exit codes as on a directory (test_doctor.py), for rows damaged as a
person at `psql` might damage them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from aiki_cli.store.postgres.connect import target

from .support import Invoke, start


@pytest.fixture
def sql(postgres_url: str) -> Iterator[Any]:
    with target(postgres_url).connect() as conn:
        yield lambda statement, *params: conn.execute(statement, params)


def test_a_healthy_database_passes(aiki: Invoke, cli: Invoke, postgres_url: str) -> None:
    start(cli, "--store", postgres_url, "e2e-echo@1.0.0")
    assert cli("--store", postgres_url, "worker", "--until-idle").code == 0
    start(cli, "--store", postgres_url, "e2e-echo@1.0.0")
    location = target(postgres_url).location
    outcome = aiki("--store", postgres_url, "doctor")
    assert (outcome.code, outcome.stderr) == (0, "")
    assert outcome.stdout.splitlines() == [f"checked 2 runs in {location}", "healthy"]
    document = json.loads(aiki("doctor", "--json", "--store", postgres_url).stdout)
    assert document == {"store": location, "healthy": True, "runs": 2, "busy": [], "findings": []}


def test_a_run_no_worker_would_take_exits_1_until_repaired(
    aiki: Invoke, cli: Invoke, postgres_url: str, sql: Any
) -> None:
    run_id = start(cli, "--store", postgres_url, "e2e-echo@1.0.0")
    sql("UPDATE runs SET ready = false WHERE id = %s", run_id)
    found = aiki("--store", postgres_url, "doctor")
    assert found.code == 1
    assert found.stdout.splitlines()[1:] == [
        f"damaged: run {run_id} is pending but not ready: no worker would take it",
        "    fix: --repair queues it",
        "1 problem(s) remain; `aiki doctor --repair` fixes 1",
    ]
    repaired = aiki("--store", postgres_url, "doctor", "--repair")
    assert repaired.code == 0
    assert f"repaired: run {run_id} is pending but not ready" in repaired.stdout
    assert aiki("--store", postgres_url, "doctor").code == 0
    assert cli("--store", postgres_url, "worker", "--until-idle").code == 0
    assert cli("--store", postgres_url, "status", run_id, "--json").json()["status"] == "completed"


def test_a_damaged_journal_is_left_for_a_person_and_exits_1(
    aiki: Invoke, cli: Invoke, postgres_url: str, sql: Any
) -> None:
    run_id = start(cli, "--store", postgres_url, "e2e-echo@1.0.0")
    assert cli("--store", postgres_url, "worker", "--until-idle").code == 0
    sql("UPDATE journal SET line = 'x' WHERE run_id = %s AND seq = 0", run_id)
    code, report = 0, {}
    for _ in range(2):  # --repair changes nothing in a journal
        outcome = aiki("--store", postgres_url, "doctor", "--repair", "--json")
        code, report = outcome.code, json.loads(outcome.stdout)
    assert (code, report["healthy"]) == (1, False)
    [finding] = report["findings"]
    assert (finding["kind"], finding["run_id"], finding["repaired"]) == (
        "journal-damaged",
        run_id,
        False,
    )
    assert "DELETE FROM" in finding["fix"] and "seq >= 0" in finding["fix"]
