"""`aiki ui` itself, through the real executable: the URL as the first line of stdout, the
token, loopback unless asked (then a warning), a clean stop on SIGINT or SIGTERM, a busy
port, the missing extra, and `--export`."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.support import AIKI, SUBPROCESS_TIMEOUT

from .conftest import Runs
from .serving import URL, environment, serving, spawn


def fetch(url: str, cookie: str | None = None) -> tuple[int, str, dict[str, str]]:
    """GET `url` without following redirects: status, body, headers."""

    class Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    request = urllib.request.Request(url, headers={"cookie": cookie} if cookie else {})
    try:
        with urllib.request.build_opener(Stay).open(request, timeout=10) as response:
            return response.status, response.read().decode(), _lower(response.headers.items())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), _lower(error.headers.items())


def _lower(headers: object) -> dict[str, str]:
    return {str(key).lower(): str(value) for key, value in headers}  # type: ignore[attr-defined]


def aiki(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AIKI, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment(**env),
        timeout=SUBPROCESS_TIMEOUT,
    )


def test_it_serves_the_token_holder_and_stops_cleanly_on_sigint(tmp_path: Path, runs: Runs) -> None:
    run_id = runs.start("ui-demo@1.0.0")
    with serving(tmp_path / "runs", cwd=tmp_path) as served:
        assert fetch(served.base + "/")[0] == 403
        status, _, headers = fetch(served.url)
        assert status == 303 and headers["location"] == served.base + "/"
        cookie = headers["set-cookie"].split(";")[0]
        status, page, _ = fetch(served.base + "/", cookie)
        assert status == 200 and run_id in page

        code, _, stderr = served.stop(signal.SIGINT)

    assert code == 0, stderr
    assert "Traceback" not in stderr and "dashboard stopped" in stderr
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", served.port), 2):
        pass


def test_sigterm_stops_it_too(tmp_path: Path) -> None:
    with serving(tmp_path / "runs", cwd=tmp_path) as served:
        code, _, stderr = served.stop(signal.SIGTERM)
    assert code == 0, stderr


def test_the_url_is_the_only_line_on_stdout(tmp_path: Path) -> None:
    with serving(tmp_path / "runs", cwd=tmp_path) as served:
        code, rest, _ = served.stop()
    assert code == 0 and rest == ""  # nothing after the URL line


def test_a_host_other_than_loopback_is_warned_about(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            *AIKI,
            "--runs-dir",
            str(tmp_path / "runs"),
            "ui",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--no-open",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=environment(),
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        assert re.fullmatch(r"http://0\.0\.0\.0:\d+/\?token=[\w-]+\n", process.stdout.readline())
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert "warning: listening on 0.0.0.0" in stderr


def test_a_busy_port_is_said_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = aiki("ui", "--port", str(port), "--no-open", cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "--port" in done.stderr


def test_without_the_extra_it_says_what_to_install(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "starlette.py").write_text("raise ImportError('no starlette', name='starlette')\n")

    done = aiki("ui", "--no-open", cwd=tmp_path, PYTHONPATH=str(shadow))

    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "pip install 'aiki[ui]'" in done.stderr and "starlette" in done.stderr


def test_status_without_export_is_bad_usage(tmp_path: Path) -> None:
    done = aiki("ui", "--status", "failed", cwd=tmp_path)
    assert done.returncode == 2 and "--status goes with --export" in done.stderr


def test_export_writes_the_pages_linked_relatively(tmp_path: Path, runs: Runs) -> None:
    waiting = runs.start("ui-demo@1.0.0")
    failed = runs.start("ui-broken@1.0.0")
    runs.execute()
    out = tmp_path / "report"

    done = aiki("--runs-dir", str(tmp_path / "runs"), "ui", "--export", str(out), cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{out / 'index.html'}\n"
    pages = {path.name for path in out.glob("*.html")}
    assert pages == {"index.html", "workflows.html", f"run-{waiting}.html", f"run-{failed}.html"}
    for page in out.glob("*.html"):
        text = page.read_text()
        assert "token" not in text and "<form" not in text and "<script" not in text
        for link in re.findall(r'(?:href|src)="([^"]+)"', text):
            assert not link.startswith(("/", "http")), (page.name, link)
            assert (out / link.partition("?")[0]).is_file(), (page.name, link)
    assert "flaky gave up on the demo" in (out / f"run-{failed}.html").read_text()


def test_export_filters_by_status_and_limit(tmp_path: Path, runs: Runs) -> None:
    runs.start("ui-broken@1.0.0")
    runs.execute()
    newest = [runs.start("ui-demo@1.0.0") for _ in range(3)][-2:]
    out = tmp_path / "report"

    args = ["--runs-dir", str(tmp_path / "runs"), "ui", "--export", str(out)]
    done = aiki(*args, "--status", "pending", "--limit", "2", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert {p.name for p in out.glob("run-*.html")} == {f"run-{run_id}.html" for run_id in newest}
    bad = aiki(*args, "--status", "sleepy", cwd=tmp_path)
    assert bad.returncode == 2 and "status" in bad.stderr


def test_it_opens_a_browser_on_the_url_when_there_is_a_display(tmp_path: Path) -> None:
    opened = tmp_path / "opened"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}.part && mv {opened}.part {opened}\n')
    browser.chmod(0o755)
    args = ["--runs-dir", str(tmp_path / "runs"), "ui", "--port", "0"]
    env = {"DISPLAY": ":99", "BROWSER": f"{browser} %s"}
    process = spawn(args, tmp_path, **env)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert URL.fullmatch(url), url
        # The browser is opened before the server answers: once it answers, it was.
        status, _, _ = fetch(url)
        assert status == 303
        assert opened.read_text().strip() == url
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
    assert process.returncode == 0
