"""`aiki ui --export DIR`: the dashboard's pages as static files, side by side and linked
relatively (no server, no token, no actions): `index.html` (the runs), `run-<id>.html`
for each run listed and the runs of their families, `workflows.html`, and the styles."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from ..authoring.workflow import WorkflowVersion
from ..client import Client
from ..model.query import RunQuery
from ..model.runinfo import RunInfo
from .pages.run import run_context
from .pages.runs import runs_context
from .pages.workflows import workflows_context
from .render import STATIC, Site, render

SITE = Site(live=False)


async def export(
    client: Client,
    workflows: Callable[[], dict[str, WorkflowVersion]],
    folder: Path,
    query: RunQuery,
    limit: int,
) -> Path:
    """Write the pages into `folder` (made if missing); the path of its `index.html`."""
    folder.mkdir(parents=True, exist_ok=True)
    runs = await runs_context(client, query, after=None, limit=limit, site=SITE)
    _write(folder / "index.html", render("runs.html", **runs))
    todo = [row.id for row in runs["rows"] if isinstance(row, RunInfo)]
    done: set[str] = set()
    while todo:
        run_id = todo.pop()
        if run_id in done:
            continue
        done.add(run_id)
        context = await run_context(client, run_id, SITE, everything=True)
        _write(folder / f"run-{run_id}.html", render("run.html", **context))
        info: RunInfo = context["info"]
        todo += [*info.children, *([info.parent_id] if info.parent_id else [])]
    page = await workflows_context(client, workflows, SITE)
    _write(folder / "workflows.html", render("workflows.html", **page))
    (folder / "static").mkdir(exist_ok=True)
    shutil.copyfile(STATIC / "aiki.css", folder / "static" / "aiki.css")
    return folder / "index.html"


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
