"""Templates and the words and links they use: the Jinja2 environment, its filters, and
`Site`, where a page's links point (the server's routes, or an export's files)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


@dataclass(frozen=True)
class Site:
    """Where links go. `live`: served (actions, live updates, the filter form); else an
    export: flat files side by side, linked relatively."""

    live: bool = True

    def runs(self, **query: Any) -> str:
        if not self.live:
            return "index.html"
        shown = {key: value for key, value in query.items() if value not in (None, "")}
        return "/" + (f"?{urlencode(shown)}" if shown else "")

    def run(self, run_id: str) -> str:
        return f"/runs/{quote(run_id)}" if self.live else f"run-{run_id}.html"

    def workflows(self) -> str:
        return "/workflows" if self.live else "workflows.html"

    def static(self, name: str) -> str:
        return f"/static/{name}" if self.live else f"static/{name}"


def when(moment: datetime | None) -> str:
    """A moment for people: local time with its offset from UTC, as `aiki status` shows."""
    if moment is None:
        return "-"
    return moment.astimezone().isoformat(sep=" ", timespec="seconds")


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def short_json(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def seconds(value: float) -> str:
    """A length of time, as short as it reads well: `850 ms`, `12.4 s`, `3 m 5 s`."""
    if value == 0:
        return "0 s"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(int(value), 60)
    return f"{minutes} m {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} m"


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=when, pretty_json=pretty_json, short_json=short_json, seconds=seconds)
    return env


ENV = environment()


def render(template: str, **context: Any) -> str:
    return ENV.get_template(template).render(**context)
