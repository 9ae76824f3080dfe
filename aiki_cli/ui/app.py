"""The dashboard's Starlette application over one `Client`: its routes, the token gate
in front of them, and the pages errors become (one line, as the CLI says it)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..authoring.workflow import WorkflowVersion
from ..client import Client
from ..errors import AikiError
from .gate import TokenGate
from .pages.actions import http_status, run_action, schedule_action, send_event
from .pages.run import run_page
from .pages.runs import counts_page, runs_page
from .pages.workflows import workflows_page
from .render import STATIC, Site, render

Workflows = Callable[[], dict[str, WorkflowVersion]]


def create_app(client: Client, token: str, workflows: Workflows) -> Starlette:
    """The dashboard over `client`'s store; every request must show `token`. `workflows`
    gives the versions of the workflows directory (event data is checked by their models)."""
    routes = [
        Route("/", runs_page),
        Route("/counts", counts_page),
        Route("/runs/{run_id}", run_page),
        Route("/runs/{run_id}/send", send_event, methods=["POST"]),
        Route("/runs/{run_id}/{action}", run_action, methods=["POST"]),
        Route("/workflows", workflows_page),
        Route("/schedules/{schedule_id}/{action}", schedule_action, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(TokenGate, token=token)],
        exception_handlers={AikiError: _aiki_error, HTTPException: _http_error},
    )
    app.state.client = client
    app.state.workflows = workflows
    return app


async def _aiki_error(request: Request, error: Exception) -> HTMLResponse:
    assert isinstance(error, AikiError)
    page = render("message.html", site=Site(), message=error.message)
    return HTMLResponse(page, status_code=http_status(error))


async def _http_error(request: Request, error: Exception) -> HTMLResponse:
    assert isinstance(error, HTTPException)
    message = "There is no such page." if error.status_code == 404 else str(error.detail)
    page = render("message.html", site=Site(), message=message)
    return HTMLResponse(page, status_code=error.status_code)
