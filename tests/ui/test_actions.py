"""The dashboard's buttons: each calls the Client as its CLI command does, so the same
rules refuse the same things (and the page says why in the CLI's words); cancel asks
first; sending an event validates its data as `aiki send` does and stores nothing when
it is refused."""

from __future__ import annotations

import asyncio
import html
from urllib.parse import parse_qs, urlsplit

from starlette.testclient import TestClient

from aiki_cli.client import Client

from .conftest import Runs


def note_of(response: object) -> str:
    """The note a redirect after an action carries to the page."""
    location = response.headers["location"]  # type: ignore[attr-defined]
    return parse_qs(urlsplit(location).query)["note"][0]


def test_each_action_shows_its_cli_command(web: TestClient, runs: Runs) -> None:
    run_id = runs.start("ui-nap@1.0.0")
    runs.execute()
    page = web.get(f"/runs/{run_id}").text
    for action in ("pause", "wake", "cancel"):
        assert f'action="/runs/{run_id}/{action}"' in page
        assert f"<code>aiki {action} {run_id}</code>" in page
    assert "resume" not in page.split('class="actions"')[1].split("Send an event")[0]
    assert f"aiki send {run_id} EVENT" in page


def test_cancel_asks_first_and_changes_nothing_until_confirmed(web: TestClient, runs: Runs) -> None:
    run_id = runs.start("ui-demo@1.0.0")
    page = web.get(f"/runs/{run_id}").text
    assert f'data-confirm="Cancel run {run_id}? This cannot be undone."' in page

    asked = web.post(f"/runs/{run_id}/cancel", data={"confirmed": ""})

    assert asked.status_code == 200 and "Yes, cancel it" in asked.text
    assert 'name="confirmed" value="yes"' in asked.text
    assert runs.status(run_id) == "pending"

    done = web.post(f"/runs/{run_id}/cancel", data={"confirmed": "yes"})

    assert done.status_code == 303 and note_of(done) == f"run {run_id} is cancelled"
    assert runs.status(run_id) == "cancelled"
    assert f"run {run_id} is cancelled" in html.unescape(web.get(done.headers["location"]).text)


def test_pause_resume_and_retry(web: TestClient, runs: Runs) -> None:
    run_id = runs.start("ui-demo@1.0.0")

    assert web.post(f"/runs/{run_id}/pause").status_code == 303
    assert runs.status(run_id) == "paused"
    resumed = web.post(f"/runs/{run_id}/resume")
    assert note_of(resumed) == f"run {run_id} is pending"
    assert runs.status(run_id) == "pending"
    web.post(f"/runs/{run_id}/cancel", data={"confirmed": "yes"})
    retried = web.post(f"/runs/{run_id}/retry")
    assert retried.status_code == 303 and runs.status(run_id) == "pending"


def test_wake_ends_a_sleep(web: TestClient, runs: Runs, client: Client) -> None:
    run_id = runs.start("ui-nap@1.0.0")
    runs.execute()
    assert runs.status(run_id) == "sleeping"

    woken = web.post(f"/runs/{run_id}/wake")

    assert woken.status_code == 303
    runs.execute()
    assert runs.status(run_id) == "completed"


def test_an_action_the_cli_refuses_is_refused_in_its_words(web: TestClient, runs: Runs) -> None:
    run_id = runs.start("ui-demo@1.0.0")

    refused = web.post(f"/runs/{run_id}/resume")

    assert refused.status_code == 400
    said = html.unescape(refused.text)
    assert 'role="alert">' in said and f"run {run_id}" in said and "paused" in said
    assert runs.status(run_id) == "pending"


def test_an_action_on_an_unknown_run_or_an_unknown_action(web: TestClient, runs: Runs) -> None:
    missing = web.post("/runs/01jzzzzzzzzzzzzzzzzzzzzzzz/pause")
    assert missing.status_code == 404 and "no run 01jzzzzzzzzzzzzzzzzzzzzzzz" in missing.text
    run_id = runs.start("ui-demo@1.0.0")
    unknown = web.post(f"/runs/{run_id}/explode")
    assert unknown.status_code == 404 and "there is no action" in html.unescape(unknown.text)


def test_sending_an_event_from_the_page(web: TestClient, runs: Runs, client: Client) -> None:
    run_id = runs.start("ui-demo@1.0.0")
    runs.execute()

    sent = web.post(f"/runs/{run_id}/send", data={"event": "go", "data": '{"ok": true}'})

    assert sent.status_code == 303 and note_of(sent) == f"sent 'go' to run {run_id}"
    [mail] = client.store.unread_mail(run_id)
    assert (mail.name, mail.data) == ("go", {"ok": True})
    runs.execute()
    assert asyncio.run(client.get(run_id)).result["go"] == {"ok": True}


def test_a_resend_with_the_same_reference_id_is_not_delivered_twice(
    web: TestClient, runs: Runs, client: Client
) -> None:
    run_id = runs.start("ui-demo@1.0.0")
    form = {"event": "go", "data": '{"ok": true}', "reference_id": "hook-1"}
    web.post(f"/runs/{run_id}/send", data=form)

    again = web.post(f"/runs/{run_id}/send", data=form)

    assert note_of(again) == f"'go' was already sent to run {run_id}"
    assert len(client.store.unread_mail(run_id)) == 1


def test_bad_event_data_is_said_and_nothing_is_stored(
    web: TestClient, runs: Runs, client: Client
) -> None:
    run_id = runs.start("ui-demo@1.0.0")
    for form, said in (
        ({"event": "go", "data": "{ok: yes}"}, "the event's data is not valid JSON: Expecting"),
        ({"event": "go", "data": "NaN"}, "the event's data is not valid JSON: NaN is not valid"),
        ({"event": "go", "data": '{"ok": "perhaps"}'}, "is invalid"),
        ({"event": "", "data": ""}, "the event name"),
    ):
        refused = web.post(f"/runs/{run_id}/send", data=form)
        page = html.unescape(refused.text)
        assert refused.status_code == 400, form
        assert said in page, (form, page)
        assert form["data"] in page  # kept in the form, to be corrected
        assert "Traceback" not in page
    assert client.store.unread_mail(run_id) == []


def test_an_event_to_an_ended_run_is_refused(web: TestClient, runs: Runs, client: Client) -> None:
    run_id = runs.start("ui-broken@1.0.0")
    runs.execute()
    refused = web.post(f"/runs/{run_id}/send", data={"event": "go", "data": ""})
    assert refused.status_code == 400 and "take events" in html.unescape(refused.text)
    assert client.store.unread_mail(run_id) == []


def test_pausing_and_resuming_a_schedule(web: TestClient, runs: Runs, client: Client) -> None:
    asyncio.run(client.add_schedule(runs.versions["ui-nap@1.0.0"], every="1h", schedule_id="naps"))

    paused = web.post("/schedules/naps/pause")

    assert paused.status_code == 303 and note_of(paused) == "schedule naps is paused"
    assert asyncio.run(client.get_schedule("naps")).paused
    assert "aiki schedule resume naps" in web.get("/workflows").text
    web.post("/schedules/naps/resume")
    assert not asyncio.run(client.get_schedule("naps")).paused
    missing = web.post("/schedules/nope/pause")
    assert missing.status_code == 404 and "no schedule" in html.unescape(missing.text).lower()
