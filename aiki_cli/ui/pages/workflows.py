"""The workflows page: every workflow and version of the workflows directory with its
tasks, the runs in flight per version (a version no longer defined but with runs in
flight still needs its code), and the schedules with their next due time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from ...authoring.loader import tasks_of
from ...authoring.workflow import WorkflowVersion
from ...client import Client
from ...errors import AikiError
from ..render import Site, render


@dataclass(frozen=True)
class VersionRow:
    name: str
    version: str
    tasks: list[str]
    in_flight: int
    defined: bool  # in the workflows directory today


async def workflows_context(
    client: Client, workflows: Callable[[], dict[str, WorkflowVersion]], site: Site
) -> dict[str, Any]:
    """What the workflows page shows; a workflows directory that cannot be loaded is
    said in `problem`, and the versions runs name are shown all the same."""
    problem = None
    try:
        versions = workflows()
    except AikiError as error:
        versions, problem = {}, error.message
    flying = await client.in_flight()
    rows = [
        VersionRow(v.name, v.version, tasks_of(v), flying.get(ref, 0), True)
        for ref, v in versions.items()
    ]
    for ref, count in flying.items():
        if ref not in versions:
            name, _, version = ref.partition("@")
            rows.append(VersionRow(name, version, [], count, False))
    rows.sort(key=lambda row: (row.name, row.version))
    schedules = sorted(await client.schedules(), key=lambda s: s.id)
    return {"site": site, "rows": rows, "schedules": schedules, "problem": problem}


async def workflows_page(request: Request) -> HTMLResponse:
    context = await workflows_context(request.app.state.client, request.app.state.workflows, Site())
    context["note"] = request.query_params.get("note")
    return HTMLResponse(render("workflows.html", **context))
