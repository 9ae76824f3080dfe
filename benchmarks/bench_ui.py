"""The dashboard: the first render of the runs page (`GET /`: its first 50 runs, and the
counts by status of the newest 100) on a store of 100,000 finished runs, as a ratio
against the same page on a store of 100, both measured in the same run.

In each repeat a fresh dashboard app is made over each store (no state carried over)
and its runs page is fetched through Starlette's test client, holding the token's
cookie; the page must list the store's newest run. The page reads only the runs it
shows or counts, so its cost must not grow with the history: target < 2x.

    python benchmarks/bench_ui.py --stores /work/.bench-stores   # builds once, keeps
    python benchmarks/bench_ui.py --smoke
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import _common as c
import _stores
from starlette.testclient import TestClient

from aiki_cli import Client
from aiki_cli.ui.app import create_app

SIZES = [100, 100_000]
SMOKE_SIZES = [30, 300]
TOKEN = "bench"


def open_store(args: Any, size: int, report: c.Report) -> tuple[Path, str]:
    """The store of `size` finished runs, and its newest run's id."""
    store = (args.stores or args.scratch) / f"ui-{size}"
    ids, seconds = _stores.reuse_or_build(store, size)
    if seconds is None:
        report.note(f"store of {size} runs: reusing {store}")
    else:
        report.note(f"store of {size} runs built in {seconds:.1f}s")
    return store, ids[-1]


def first_render(store: Path, newest: str) -> float:
    """Seconds to serve the runs page of a dashboard made just now over `store`."""
    app = create_app(Client(store), TOKEN, dict)
    with TestClient(app, base_url="http://127.0.0.1:8765", follow_redirects=False) as web:
        web.cookies.set("aiki_ui_8765", TOKEN)
        start = time.perf_counter()
        page = web.get("/")
        seconds = time.perf_counter() - start
    if page.status_code != 200 or newest not in page.text:
        raise SystemExit(f"the runs page of {store} is wrong: {page.status_code}")
    return seconds


def main(argv: list[str] | None = None) -> None:
    options = c.parser(__doc__.split("\n\n")[0])
    options.add_argument("--stores", type=Path, help="keep the built stores here, reuse them")
    args = c.parse(options, argv)
    sizes = SMOKE_SIZES if args.smoke else SIZES
    report = c.Report("bench_ui", args)
    report.header()
    report.note(f"runs page first render; stores of {sizes} finished runs")
    times: defaultdict[int, list[float]] = defaultdict(list)
    with c.scratch(args.dir, "ui") as scratch:
        args.scratch = scratch
        stores = {size: open_store(args, size, report) for size in sizes}
        for store, newest in stores.values():
            first_render(store, newest)  # imports and the page cache: not the page's cost
        for repeat in range(args.repeats):
            for size, (store, newest) in stores.items():
                times[size].append(first_render(store, newest))
            shown = ", ".join(f"{size}: {ts[-1] * 1000:.1f} ms" for size, ts in times.items())
            report.note(f"repeat {repeat + 1}: {shown}")
    base = min(sizes)
    for size in sizes:
        ratios = [mine / ref for mine, ref in zip(times[size], times[base], strict=True)]
        report.result(
            f"ui.runs_page.{size}",
            c.median(times[size]) * 1000,
            "ms",
            baseline=c.median(times[base]) * 1000,
            of=f"{base}-run store",
            ratio=c.median(ratios),
            target=c.Target("<=", 2) if size != base else None,
        )
    report.finish()


if __name__ == "__main__":
    main()
