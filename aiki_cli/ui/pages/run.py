"""The run page: the header, the waterfall of its tasks, sleeps, event waits and children
on a time axis, its input, result and error, its pending mail and requests, and the raw
journal; its live part is fetched again while the run has not ended."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from ...client import Client
from ...model.entry import dump_entry
from ...model.status import RunStatus
from ...model.timeline import Axis, spans
from ..render import Site, render

# The actions a run in each status offers; the client refuses the others as the CLI does.
ACTIONS: dict[str, frozenset[RunStatus]] = {
    "pause": frozenset(s for s in RunStatus if not s.terminal and s != RunStatus.PAUSED),
    "resume": frozenset({RunStatus.PAUSED}),
    "wake": frozenset({RunStatus.SLEEPING}),
    "retry": frozenset({RunStatus.FAILED, RunStatus.CANCELLED}),
    "cancel": frozenset(s for s in RunStatus if not s.terminal),
}
DESTRUCTIVE = frozenset({"cancel"})
# What a page of a long run shows, unless asked for everything (`?all=1`): it is fetched
# again every second while the run is live.
LAST_BARS = 200
LAST_LINES = 500


async def run_context(
    client: Client, run_id: str, site: Site, *, everything: bool = False
) -> dict[str, Any]:
    """What the run page shows: the last bars and journal lines of a long run, unless
    `everything`. `RunNotFound` (or `InvalidRunId`) as the client raises."""
    info = await client.get(run_id)
    entries = await client.history(run_id)
    mail, requests = await client.pending(run_id)
    live = not info.status.terminal
    end = client.clock.now() if live else max([info.updated_at, *(e.at for e in entries)])
    axis = Axis(info.created_at, end)
    bars = spans(entries, live=live)
    shown_bars = bars if everything else bars[-LAST_BARS:]
    shown_lines = entries if everything else entries[-LAST_LINES:]
    return {
        "site": site,
        "info": info,
        "live": live,
        "everything": everything,
        "bars": [(bar, *axis.place(bar)) for bar in shown_bars],
        "hidden_bars": len(bars) - len(shown_bars),
        "axis": axis,
        "journal": [dump_entry(entry).decode() for entry in shown_lines],
        "journal_start": len(entries) - len(shown_lines) + 1,
        "mail": mail,
        "requests": sorted(requests),
        "actions": [name for name, allowed in ACTIONS.items() if info.status in allowed],
        "destructive": DESTRUCTIVE,
    }


async def run_page(request: Request) -> HTMLResponse:
    client: Client = request.app.state.client
    run_id = request.path_params["run_id"]
    everything = request.query_params.get("all") == "1"
    context = await run_context(client, run_id, Site(), everything=everything)
    context.update(
        live_url=f"{Site().run(run_id)}?part=live" + ("&all=1" if everything else ""),
        note=request.query_params.get("note"),
        problem=None,
        form={},
    )
    template = "run_live.html" if request.query_params.get("part") == "live" else "run.html"
    return HTMLResponse(render(template, **context))
