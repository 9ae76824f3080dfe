"""`aiki ui`: the dashboard over the store, served on loopback behind a one-time token,
or written as static pages with `--export DIR`. The only command that imports the web
stack (the `ui` extra), and only when it runs."""

from __future__ import annotations

import asyncio
import os
import sys
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..authoring.workflow import WorkflowVersion
from ..errors import BadInput, ExtraMissing
from ..model.query import RunQuery
from ..model.status import RunStatus
from . import streams, views
from .options import Options
from .params import one_of

if TYPE_CHECKING:
    from types import ModuleType


def ui(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(metavar="HOST", help="Address to listen on; not loopback: warned.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, metavar="PORT", help="Port; 0 picks a free one.")
    ] = 8765,
    no_open: Annotated[bool, typer.Option("--no-open", help="Do not open a browser.")] = False,
    export: Annotated[
        str | None, typer.Option(metavar="DIR", help="Write the pages as static HTML into DIR.")
    ] = None,
    status: Annotated[
        str | None, typer.Option(metavar="STATUS", help="With --export: only runs in this status.")
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, metavar="N", help="With --export: at most this many runs.")
    ] = 50,
) -> None:
    """Serve a dashboard of the runs (its URL, with its token, is the first line printed);
    Ctrl-C stops it. With --export DIR, write the same pages as files instead."""
    options: Options = ctx.obj
    web = _web_stack()
    client = options.client()
    workflows = _loaded_once(options)
    if export is not None:
        wanted = one_of(RunStatus, "status", status) if status is not None else None
        index = asyncio.run(
            web.export.export(client, workflows, Path(export), RunQuery(status=wanted), limit)
        )
        print(index, file=streams.stdout(), flush=True)
        return
    if status is not None:
        raise BadInput("--status goes with --export; the dashboard filters runs on its page")
    token = web.gate.new_token()
    sock = web.serve.listen(host, port)
    url = web.serve.url_of(host, sock.getsockname()[1], token)

    def ready() -> None:
        print(url, file=streams.stdout(), flush=True)
        if not web.serve.is_loopback(host):
            views.note(
                f"warning: listening on {host}: whoever can reach it and has the link "
                "can act on runs"
            )
        views.note(f"dashboard of {client.store.location}; Ctrl-C stops it")
        if not no_open and _has_display():
            webbrowser.open(url)

    web.serve.serve(web.app.create_app(client, token, workflows), sock, ready)
    views.note("dashboard stopped")


class _Web:
    """The dashboard's modules, imported together."""

    def __init__(self, app: ModuleType, export: ModuleType, gate: ModuleType, serve: ModuleType):
        self.app, self.export, self.gate, self.serve = app, export, gate, serve


def _web_stack() -> _Web:
    try:
        from ..ui import app, export, gate, serve
    except ImportError as error:
        raise ExtraMissing("aiki ui", "ui", error.name or "the web stack") from None
    return _Web(app, export, gate, serve)


def _loaded_once(options: Options) -> Callable[[], dict[str, WorkflowVersion]]:
    """The workflows directory's versions, imported on first need and kept; none when
    there is no such directory (as `aiki send` then checks event data by no model)."""
    loaded: list[dict[str, WorkflowVersion]] = []

    def workflows() -> dict[str, WorkflowVersion]:
        if not loaded:
            folder = options.settings().workflows_dir
            loaded.append(options.workflows() if folder.is_dir() else {})
        return loaded[0]

    return workflows


def _has_display() -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


COMMANDS = {"ui": ui}
