"""What the pages' buttons do: cancel, pause, resume, wake, retry and send on a run, pause
and resume on a schedule, each through the same `Client` method as the CLI command, so
the same rules refuse the same things. A destructive action asks first; a refusal shows
the page again with the one-line message the CLI would print."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ...authoring.workflow import WorkflowVersion
from ...client import Client
from ...errors import AikiError
from ...model.runinfo import RunInfo
from ...values.jsontext import parse_json
from ..render import Site, render
from .run import ACTIONS, DESTRUCTIVE, run_context

HTTP_STATUS = {2: 400, 4: 404}  # by exit code (SPEC §6); any other failure is the server's


async def form_of(request: Request) -> dict[str, str]:
    """A posted form's fields (the pages post url-encoded forms, files never): read
    here, so no multipart parser is needed."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {key: values[0] for key, values in parse_qs(body, keep_blank_values=True).items()}


def http_status(error: AikiError) -> int:
    return HTTP_STATUS.get(error.exit_code, 500)


def _done(info: RunInfo, action: str) -> str:
    """What happened, in the words of the CLI command's note."""
    if action == "cancel" and info.cancel_requested:
        return f"cancel of run {info.id} requested; its worker stops it at the next task"
    if action == "pause" and info.status != "paused":
        return f"pause of run {info.id} requested; its worker pauses it at the next task"
    return f"run {info.id} is {info.status}"


async def run_action(request: Request) -> Response:
    client: Client = request.app.state.client
    run_id, action = request.path_params["run_id"], request.path_params["action"]
    if action not in ACTIONS:
        return await _refused(request, run_id, f"there is no action {action!r}", 404)
    form = await form_of(request)
    if action in DESTRUCTIVE and form.get("confirmed") != "yes":
        page = render("confirm.html", site=Site(), run_id=run_id, action=action)
        return HTMLResponse(page)
    try:
        info: RunInfo = await getattr(client, action)(run_id)
    except AikiError as error:
        return await _refused(request, run_id, error.message, http_status(error))
    return _back_to(Site().run(run_id), _done(info, action))


async def send_event(request: Request) -> Response:
    client: Client = request.app.state.client
    run_id = request.path_params["run_id"]
    form = await form_of(request)
    fields = {key: form.get(key, "") for key in ("event", "data", "reference_id")}
    try:
        info = await client.get(run_id)
        data = parse_json(fields["data"], "the event's data") if fields["data"].strip() else None
        version = _version(request.app.state.workflows, f"{info.workflow}@{info.version}")
        reference = fields["reference_id"] or None
        sent = await client.send(
            run_id, fields["event"], data, reference_id=reference, version=version
        )
    except AikiError as error:
        return await _refused(request, run_id, error.message, http_status(error), fields)
    event = fields["event"]
    note = (
        f"sent {event!r} to run {run_id}" if sent else f"{event!r} was already sent to run {run_id}"
    )
    return _back_to(Site().run(run_id), note)


def _version(
    workflows: Callable[[], dict[str, WorkflowVersion]], ref: str
) -> WorkflowVersion | None:
    """The run's version, whose event models check the data, as `aiki send` finds it."""
    return workflows().get(ref)


async def schedule_action(request: Request) -> Response:
    client: Client = request.app.state.client
    schedule_id, action = request.path_params["schedule_id"], request.path_params["action"]
    calls = {"pause": client.pause_schedule, "resume": client.resume_schedule}
    try:
        if action not in calls:
            raise AikiError(f"there is no schedule action {action!r}")
        schedule = await calls[action](schedule_id)
    except AikiError as error:
        status = 404 if action not in calls else http_status(error)
        return _back_to(Site().workflows(), f"error: {error.message}", status)
    state = "paused" if schedule.paused else "active"
    return _back_to(Site().workflows(), f"schedule {schedule.id} is {state}")


def _back_to(url: str, note: str, status: int = 303) -> Response:
    if status != 303:
        return HTMLResponse(render("message.html", site=Site(), message=note), status_code=status)
    return RedirectResponse(f"{url}?{urlencode({'note': note})}", status_code=303)


async def _refused(
    request: Request, run_id: str, message: str, status: int, form: dict[str, str] | None = None
) -> Response:
    """The run page again with `message`; a page saying so when the run cannot be shown."""
    try:
        context = await run_context(request.app.state.client, run_id, Site())
    except AikiError as error:
        page = render("message.html", site=Site(), message=error.message)
        return HTMLResponse(page, status_code=http_status(error))
    context.update(live_url=f"{Site().run(run_id)}?part=live", note=None, problem=message)
    context["form"] = form or {}
    return HTMLResponse(render("run.html", **context), status_code=status)
