"""The dashboard's pages through Starlette's test client: the token gate, the runs page
(filters, counts, pages, its live part), the run page (waterfall, errors, journal,
pending mail and requests), the workflows page, and the 404 page."""

from __future__ import annotations

import asyncio
import html
import re
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from aiki_cli.client import Client
from aiki_cli.model.entry import dump_entry
from aiki_cli.ui.pages import run as run_page
from aiki_cli.ui.pages import runs as runs_page

from .conftest import TOKEN, Runs


def links_to_runs(html: str) -> list[str]:
    return re.findall(r'href="/runs/([0-9a-z]+)"', html)


# -- the token gate --------------------------------------------------------------------


def test_without_the_token_every_page_is_refused(stranger: TestClient, runs: Runs) -> None:
    run_id = runs.start("ui-demo@1.0.0")
    for path in ("/", f"/runs/{run_id}", "/workflows", "/static/aiki.css", "/nowhere"):
        refused = stranger.get(path)
        assert refused.status_code == 403, path
        assert "needs its token" in refused.text
    assert stranger.post(f"/runs/{run_id}/cancel", data={"confirmed": "yes"}).status_code == 403
    assert runs.status(run_id) == "pending"


def test_a_wrong_token_is_refused(stranger: TestClient) -> None:
    refused = stranger.get("/?token=not-the-token")
    assert refused.status_code == 403
    assert "set-cookie" not in refused.headers


def test_the_token_becomes_a_cookie_and_leaves_the_address(stranger: TestClient) -> None:
    opened = stranger.get(f"/workflows?token={TOKEN}&x=1")
    assert opened.status_code == 303
    assert opened.headers["location"] == "http://127.0.0.1:8765/workflows?x=1"
    cookie = opened.headers["set-cookie"]
    assert "aiki_ui_8765=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert stranger.get("/workflows").status_code == 200


def test_a_form_posted_from_another_site_is_refused(web: TestClient, runs: Runs) -> None:
    run_id = runs.start("ui-demo@1.0.0")
    posted = web.post(
        f"/runs/{run_id}/cancel",
        data={"confirmed": "yes"},
        headers={"origin": "http://evil.example"},
    )
    assert posted.status_code == 403
    assert runs.status(run_id) == "pending"


# -- the runs page ---------------------------------------------------------------------


def test_the_runs_page_lists_runs_newest_first_with_counts(web: TestClient, runs: Runs) -> None:
    first = runs.start("ui-demo@1.0.0")
    failed = runs.start("ui-broken@1.0.0")
    runs.execute()
    newest = runs.start("ui-nap@1.0.0")

    page = web.get("/")

    assert page.status_code == 200
    assert links_to_runs(page.text) == [newest, failed, first]
    counts = dict(re.findall(r'class="st st-(\w+)" href="[^"]*">\w+ <b>(\d+)</b>', page.text))
    assert counts == {"pending": "1", "failed": "1", "awaiting_event": "1"}
    assert "ui-broken@1.0.0" in page.text and "event go" in page.text


def test_the_runs_page_filters(web: TestClient, runs: Runs, client: Client) -> None:
    demo = runs.start("ui-demo@1.0.0", key="order-17")
    broken = runs.start("ui-broken@1.0.0")
    runs.execute()
    nap = runs.start("ui-nap@1.0.0")

    assert links_to_runs(web.get("/?status=failed").text) == [broken]
    assert links_to_runs(web.get("/?workflow=ui-nap").text) == [nap]
    assert links_to_runs(web.get("/?workflow=ui-demo@1.0.0").text) == [demo]
    assert links_to_runs(web.get("/?workflow=ui-demo@2.0.0").text) == []
    assert links_to_runs(web.get("/?text=ORDER-1").text) == [demo]  # the idempotency key
    assert links_to_runs(web.get(f"/?text={nap[-8:]}").text) == [nap]
    created = asyncio.run(client.get(nap)).created_at
    later = (created + timedelta(minutes=1)).astimezone().strftime("%Y-%m-%dT%H:%M")
    assert links_to_runs(web.get(f"/?from={later}").text) == []
    assert set(links_to_runs(web.get(f"/?to={later}").text)) == {demo, broken, nap}


def test_a_bad_filter_is_said_in_one_line(web: TestClient, runs: Runs) -> None:
    runs.start("ui-demo@1.0.0")
    for query, said in (
        ("status=sleepy", "status 'sleepy' is not one of pending, running"),
        ("from=yesterday", "from 'yesterday' is not a date and time"),
        ("limit=0", "limit '0' is not a whole number from 1 to 500"),
    ):
        page = web.get(f"/?{query}")
        assert page.status_code == 400, query
        assert said in html.unescape(page.text), query
        assert "Traceback" not in page.text


def test_the_runs_page_is_paginated(web: TestClient, runs: Runs) -> None:
    started = [runs.start("ui-demo@1.0.0") for _ in range(5)]
    newest_first = started[::-1]

    first = web.get("/?limit=2")
    assert links_to_runs(first.text) == newest_first[:2]
    older = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert older is not None
    second = web.get(older.group(1).replace("&amp;", "&"))
    assert links_to_runs(second.text) == newest_first[2:4]
    assert "data-live" not in second.text  # only the first page follows new runs
    third = web.get(re.findall(r'rel="next" href="([^"]+)"', second.text)[0].replace("&amp;", "&"))
    assert links_to_runs(third.text) == newest_first[4:]
    assert 'rel="next"' not in third.text


def test_the_live_part_of_the_runs_page_has_runs_started_since(web: TestClient, runs: Runs) -> None:
    page = web.get("/?status=pending")
    live_url = re.search(r'data-live="([^"]+)"', page.text)
    assert live_url is not None and links_to_runs(page.text) == []
    run_id = runs.start("ui-demo@1.0.0")

    part = web.get(live_url.group(1).replace("&amp;", "&"))

    assert part.status_code == 200 and "<html" not in part.text
    assert links_to_runs(part.text) == [run_id]


# -- the run page ----------------------------------------------------------------------


def test_the_run_page_of_a_completed_run(web: TestClient, runs: Runs, client: Client) -> None:
    run_id = runs.start("ui-demo@1.0.0", {"who": "ada"})
    runs.execute()
    asyncio.run(client.send(run_id, "go", {"ok": True}))
    runs.execute()

    page = web.get(f"/runs/{run_id}").text

    assert 'class="st st-completed"' in page and "ui-demo@1.0.0" in page
    assert "data-live" not in page  # an ended run no longer changes
    assert re.findall(r'<li class="k-(\w+) o-(\w+)">', page) == [
        ("task", "completed"),
        ("event", "received"),
    ]
    assert "&#34;who&#34;: &#34;ada&#34;" in page  # the input
    assert "&#34;ok&#34;: true" in page  # the result
    entries = asyncio.run(client.history(run_id))
    journal = re.search(r'<ol class="journal" start="1">(.*?)</ol>', page, re.S)
    assert journal is not None
    lines = re.findall(r"<li><code>(.*?)</code></li>", journal.group(1))
    assert len(lines) == len(entries)
    assert lines[0] == dump_entry(entries[0]).decode().replace('"', "&#34;")


def test_the_run_page_of_a_failed_run_shows_each_attempt_and_the_traceback(
    web: TestClient, runs: Runs
) -> None:
    run_id = runs.start("ui-broken@1.0.0")
    runs.execute()

    page = web.get(f"/runs/{run_id}").text

    assert re.findall(r'<li class="k-task o-(\w+)">', page) == ["retrying", "failed"]
    assert "attempt 2" in page
    assert "flaky gave up on the demo" in page
    assert "Traceback" in page and "raise ValueError" in page


def test_the_run_page_of_a_waiting_run_is_live_and_shows_pending_mail_and_requests(
    web: TestClient, runs: Runs, client: Client
) -> None:
    run_id = runs.start("ui-demo@1.0.0")
    runs.execute()
    asyncio.run(client.send(run_id, "go", {"ok": False}, reference_id="hook-9"))
    client.store.request(run_id, "pause")

    page = web.get(f"/runs/{run_id}").text

    assert f'data-live="/runs/{run_id}?part=live"' in page
    assert "event go" in page  # what it waits for
    assert re.findall(r'<li class="k-(\w+) o-(\w+)">', page) == [
        ("task", "completed"),
        ("event", "open"),
    ]
    assert "event <strong>go</strong>" in page and "hook-9" in page
    assert "request: <strong>pause</strong>" in page
    part = web.get(f"/runs/{run_id}?part=live")
    assert part.status_code == 200 and "<html" not in part.text and "data-final" not in part.text


def test_the_run_page_links_a_parent_and_its_children(web: TestClient, runs: Runs) -> None:
    run_id = runs.start("ui-nap@1.0.0")
    runs.execute()
    page = web.get(f"/runs/{run_id}").text
    assert "sleep nap" in page and 'class="k-sleep o-open"' in page


def test_an_unknown_run_has_a_404_page(web: TestClient) -> None:
    page = web.get("/runs/01jzzzzzzzzzzzzzzzzzzzzzzz")
    assert page.status_code == 404
    assert "no run 01jzzzzzzzzzzzzzzzzzzzzzzz" in page.text and "<h1>Not here</h1>" in page.text


def test_a_malformed_run_id_is_refused_in_one_line(web: TestClient) -> None:
    page = web.get("/runs/..%2F..%2Fetc")
    assert page.status_code in (400, 404)
    assert "Traceback" not in page.text


def test_an_unknown_page_has_a_404_page(web: TestClient) -> None:
    page = web.get("/nowhere")
    assert page.status_code == 404 and "There is no such page." in page.text


# -- the workflows page ----------------------------------------------------------------


def test_the_workflows_page_has_versions_runs_in_flight_and_schedules(
    web: TestClient, runs: Runs, client: Client
) -> None:
    runs.start("ui-demo@1.0.0")
    runs.start("ui-demo@1.0.0")
    runs.start("ui-broken@1.0.0")
    runs.execute()  # the broken run ends; the demo runs wait for an event
    schedule = asyncio.run(
        client.add_schedule(runs.versions["ui-nap@1.0.0"], every="1h", schedule_id="naps")
    )

    page = web.get("/workflows").text

    rows = dict(
        re.findall(r"<td>(ui-[a-z]+)</td>\s*<td>1\.0\.0</td>\s*<td>(?:<a[^>]*>)?(\d+)", page)
    )
    assert rows == {
        "ui-broken": "0",
        "ui-demo": "2",
        "ui-nap": "0",
        "ui-steps": "0",
        "ui-tour": "0",
    }
    assert "<code>naps</code>" in page and "every 1.0 h" not in page
    assert schedule.next_due.isoformat() in page
    assert "aiki schedule pause naps" in page


def test_the_runs_page_counts_the_newest_runs_and_the_counts_page_all(
    web: TestClient, runs: Runs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs_page, "COUNT_WINDOW", 2)
    runs.start("ui-broken@1.0.0")
    runs.execute()
    runs.start("ui-demo@1.0.0")
    runs.start("ui-demo@1.0.0")

    page = web.get("/").text
    everything = web.get("/counts").text

    counts = re.findall(r'class="st st-(\w+)" href="[^"]*">\w+ <b>(\d+)</b>', page)
    assert counts == [("pending", "2")] and "Counted over the newest 2 runs" in page
    assert re.findall(r'class="st st-(\w+)" href="[^"]*">\w+</a></td><td>(\d+)<', everything) == [
        ("pending", "2"),
        ("failed", "1"),
    ]
    assert "All 3 runs" in everything


def test_a_long_run_shows_its_last_bars_and_lines_unless_asked_for_all(
    web: TestClient, runs: Runs, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_page, "LAST_BARS", 2)
    monkeypatch.setattr(run_page, "LAST_LINES", 3)
    run_id = runs.start("ui-steps@1.0.0", {"n": 4})
    runs.execute()
    entries = asyncio.run(client.history(run_id))

    page = web.get(f"/runs/{run_id}").text
    every = web.get(f"/runs/{run_id}?all=1").text

    assert re.findall(r'<li class="k-(\w+)', page) == ["task", "event"]
    assert "… 3 earlier bars" in page
    first = len(entries) - 2
    assert f'<ol class="journal" start="{first}">' in page
    assert f"… {first - 1} earlier lines" in page and f"({len(entries)} entries)" in page
    assert len(re.findall(r'<li class="k-', every)) == 5  # 4 steps and the event wait
    assert '<ol class="journal" start="1">' in every and "earlier" not in every
    assert f'data-live="/runs/{run_id}?part=live&amp;all=1"' in every
