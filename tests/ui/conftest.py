"""Fixtures of the dashboard's route tests: a file store in `tmp_path`, the test
workflows, a worker to execute runs in this process, and Starlette's test client
holding the dashboard's cookie (as a browser does after opening the printed link)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from aiki_cli.authoring.loader import load_workflows
from aiki_cli.authoring.workflow import WorkflowVersion
from aiki_cli.client import Client
from aiki_cli.ui.app import create_app
from aiki_cli.worker.loop import Worker

WORKFLOWS = Path(__file__).parent / "workflows"
TOKEN = "a-test-token"
BASE = "http://127.0.0.1:8765"


@pytest.fixture(scope="session")
def versions() -> dict[str, WorkflowVersion]:
    return load_workflows(WORKFLOWS)


@pytest.fixture
def client(tmp_path: Path) -> Client:
    return Client(tmp_path / "runs")


@pytest.fixture
def stranger(client: Client, versions: dict[str, WorkflowVersion]) -> Iterator[TestClient]:
    """A test client without the token."""
    app = create_app(client, TOKEN, lambda: versions)
    with TestClient(app, base_url=BASE, follow_redirects=False) as web:
        yield web


@pytest.fixture
def web(stranger: TestClient) -> TestClient:
    """A test client that opened the printed link, and so holds the cookie."""
    opened = stranger.get(f"/?token={TOKEN}")
    assert opened.status_code == 303, opened.text
    return stranger


class Runs:
    """Starts runs of the test workflows and executes them in this process."""

    def __init__(self, client: Client, versions: dict[str, WorkflowVersion]) -> None:
        self.client = client
        self.versions = versions

    def start(self, ref: str, input: Any = None, key: str | None = None) -> str:
        return self.client.create(self.versions[ref], input, key).id

    def execute(self) -> None:
        worker = Worker(self.client, workflows=list(self.versions.values()), poll_interval=0.01)
        asyncio.run(worker.run(until_idle=True))

    def status(self, run_id: str) -> str:
        return str(asyncio.run(self.client.get(run_id)).status)


@pytest.fixture
def runs(client: Client, versions: dict[str, WorkflowVersion]) -> Runs:
    return Runs(client, versions)
