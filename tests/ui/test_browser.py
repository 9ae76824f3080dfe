"""The dashboard in a real browser: headless Chromium (the system's, never downloaded)
driven by Playwright, against `aiki ui --port 0 --no-open` and `aiki worker` processes
on a temp store, with runs started from the CLI. Every wait waits for a condition.

Without Chromium (AIKI_TEST_CHROMIUM, default /usr/bin/chromium) these fail when CI is
set and skip elsewhere. The run page's screenshot is kept under the test's tmp dir (its
path printed), and also written to $AIKI_UI_SCREENSHOT when set (docs/ui-run.png)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import AIKI, SUBPROCESS_TIMEOUT

from .serving import Served, environment, serving, spawn

CHROMIUM = Path(os.environ.get("AIKI_TEST_CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags Chromium dials out, which a closed network refuses.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 30_000  # how long a condition may take to hold on a loaded machine

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.is_file():
        why = f"no Chromium at {CHROMIUM}: `apt-get install chromium` or set AIKI_TEST_CHROMIUM"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    return CHROMIUM


@pytest.fixture
def page(chromium: Path, tmp_path: Path) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(chromium),
            headless=True,
            args=FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Path, Served]]:
    """A temp store with a worker executing its runs and the dashboard serving it."""
    runs = tmp_path / "runs"
    worker = spawn(["--runs-dir", str(runs), "worker", "--poll-interval", "0.05"], tmp_path)
    try:
        with serving(runs, cwd=tmp_path) as served:
            yield runs, served
    finally:
        worker.send_signal(signal.SIGINT)
        try:
            worker.communicate(timeout=SUBPROCESS_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.communicate()


def aiki(runs: Path, *args: str) -> str:
    done = subprocess.run(
        [*AIKI, "--runs-dir", str(runs), *args],
        capture_output=True,
        text=True,
        env=environment(),
        timeout=SUBPROCESS_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def status_of(runs: Path, run_id: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(aiki(runs, "status", run_id, "--json"))
    return document


def mark_page(page: Any) -> None:
    """Leave a mark in the page's JavaScript state: a reload would wipe it."""
    page.evaluate("window.aikiMark = 'not reloaded'")


def assert_not_reloaded(page: Any) -> None:
    assert page.evaluate("window.aikiMark") == "not reloaded"


def test_runs_started_from_the_cli_appear_without_a_reload(
    page: Any, store: tuple[Path, Served]
) -> None:
    from playwright.sync_api import expect

    runs, served = store
    page.goto(served.url)
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    mark_page(page)

    run_id = aiki(runs, "start", "ui-demo@1.0.0").strip()

    row = page.locator("table.runs tr", has=page.locator(f'a[href="/runs/{run_id}"]'))
    expect(row).to_be_visible()
    expect(row.locator(".st")).to_have_text("awaiting_event")  # the worker took it
    expect(page.locator(".counts")).to_contain_text("awaiting_event 1")
    assert_not_reloaded(page)


def test_a_running_run_grows_its_timeline_and_is_cancelled_from_the_page(
    page: Any, store: tuple[Path, Served], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    runs, served = store
    started = aiki(runs, "start", "ui-tour@1.0.0", "--input-json", '{"items": 400, "pause": 0.05}')
    run_id = started.strip()
    page.goto(served.url)
    page.goto(f"{served.base}/runs/{run_id}")
    bars = page.locator(".bars li")
    expect(page.locator(".bars li.k-task", has_text="pack-item").first).to_be_visible()
    mark_page(page)
    seen = bars.count()

    page.wait_for_function(
        "seen => document.querySelectorAll('.bars li').length > seen", arg=seen, timeout=WAIT_MS
    )

    assert_not_reloaded(page)
    expect(page.locator(".facts .st")).to_have_text("running")
    # The retried task's attempts are two bars; the sleep is a bar of its own.
    expect(page.locator(".bars li", has_text="charge-card")).to_have_count(2)
    expect(page.locator(".bars li.k-sleep")).to_have_text(re.compile("sleep cool-off"))
    shot = tmp_path / "ui-run.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot of the run page: {shot}")
    if wanted := os.environ.get("AIKI_UI_SCREENSHOT"):
        page.screenshot(path=wanted)

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel").click()

    expect(page.locator(".facts .st")).to_have_text("cancelled")
    assert status_of(runs, run_id)["status"] == "cancelled"


def test_an_event_sent_from_the_page_reaches_the_run(page: Any, store: tuple[Path, Served]) -> None:
    from playwright.sync_api import expect

    runs, served = store
    run_id = aiki(runs, "start", "ui-demo@1.0.0").strip()
    page.goto(served.url)
    page.goto(f"{served.base}/runs/{run_id}")
    expect(page.locator(".facts .st")).to_have_text("awaiting_event")

    page.get_by_label("Event").fill("go")
    page.get_by_label("Data (JSON, optional)").fill('{"ok": "maybe"}')
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("alert")).to_contain_text("is invalid")  # the model refused it

    page.get_by_label("Data (JSON, optional)").fill('{"ok": true}')
    page.get_by_role("button", name="Send").click()

    expect(page.get_by_role("status")).to_have_text(f"sent 'go' to run {run_id}")
    expect(page.locator(".facts .st")).to_have_text("completed")
    assert status_of(runs, run_id)["result"]["go"] == {"ok": True}
