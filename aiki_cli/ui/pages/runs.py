"""The runs page: the newest runs, filtered and paginated, with counts by status; its
live part (counts and table) is fetched again while the first page is open."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from ...client import Client
from ...errors import BadInput
from ...model.query import RunQuery
from ...model.status import RunStatus
from ...values.naming import split_ref
from ..render import Site, render

PAGE = 50  # runs a page shows unless asked for another number
MOST = 500
# The runs page counts the newest runs by status, so it costs the same at any history;
# the counts page counts every run, when asked (a store keeps no count by status).
COUNT_WINDOW = 100
FIELDS = ("status", "workflow", "text", "from", "to")


def read_query(params: Mapping[str, str]) -> tuple[RunQuery, int]:
    """The filter and page size asked for in `params`; `BadInput` naming a bad one."""
    status = params.get("status") or None
    if status is not None and status not in RunStatus.__members__.values():
        known = ", ".join(s.value for s in RunStatus)
        raise BadInput(f"status {status!r} is not one of {known}")
    name, version = _workflow(params.get("workflow", ""))
    query = RunQuery(
        status=RunStatus(status) if status else None,
        workflow=name,
        version=version,
        text=params.get("text") or None,
        created_from=_moment(params.get("from"), "from"),
        created_to=_moment(params.get("to"), "to"),
    )
    return query, _limit(params.get("limit"))


def _workflow(text: str) -> tuple[str | None, str | None]:
    text = text.strip()
    if "@" not in text:
        return text or None, None
    try:
        return split_ref(text)
    except ValueError as error:
        raise BadInput(str(error)) from None


def _moment(text: str | None, field: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(
            f"{field} {text!r} is not a date and time such as 2026-12-03T09:00"
        ) from None
    return moment if moment.tzinfo else moment.astimezone()  # a form's time is local


def _limit(text: str | None) -> int:
    if not text:
        return PAGE
    if not text.isdigit() or not 1 <= int(text) <= MOST:
        raise BadInput(f"limit {text!r} is not a whole number from 1 to {MOST}")
    return int(text)


async def runs_context(
    client: Client, query: RunQuery, *, after: str | None, limit: int, site: Site
) -> dict[str, Any]:
    """What the runs page shows: a page of runs (one more is read to know if more follow),
    and the counts by status of the newest runs."""
    found = await client.query(query, after=after, limit=limit + 1)
    rows = found[:limit]
    return {
        "site": site,
        "rows": rows,
        "more": len(found) > limit,
        "last": rows[-1].id if rows else None,
        "counts": await client.count_statuses(newest=COUNT_WINDOW),
        "window": COUNT_WINDOW,
        "after": after,
        "statuses": [s.value for s in RunStatus],
    }


async def runs_page(request: Request) -> HTMLResponse:
    client: Client = request.app.state.client
    params = request.query_params
    problem: str | None = None
    try:
        query, limit = read_query(params)
    except BadInput as error:
        query, limit, problem = RunQuery(), PAGE, error.message
    after = params.get("after") or None
    context = await runs_context(client, query, after=after, limit=limit, site=Site())
    form = {field: params.get(field, "") for field in FIELDS}
    live_query = {**form, "limit": params.get("limit", "")}
    context.update(form=form, problem=problem, live_url=Site().runs(part="live", **live_query))
    context["next_url"] = Site().runs(**live_query, after=context["last"])
    template = "runs_live.html" if params.get("part") == "live" else "runs.html"
    return HTMLResponse(render(template, **context), status_code=400 if problem else 200)


async def counts_page(request: Request) -> HTMLResponse:
    """Every run counted by status: it reads every run, so only when asked."""
    client: Client = request.app.state.client
    counts = await client.count_statuses(newest=None)
    page = render("counts.html", site=Site(), counts=counts, total=sum(counts.values()))
    return HTMLResponse(page)
