"""The benchmark scripts still run: each in `--smoke` mode (tiny sizes, one repeat, no
DBOS), in a subprocess, on a store in `tmp_path`. Only that they finish and print their
result lines is asserted; timings never are (benchmarks/README.md has the figures)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
RESULT = re.compile(r"^result (\S+) (-?[0-9.]+) (\S+)( \| .*)?$")

EXPECTED = {
    "bench_steps": [
        "steps.fsync_append",
        "steps.aiki.per_step",
        "steps.aiki_no_fsync.per_step",
        "steps.aiki_memory.per_step",
        "steps.syscalls.fdatasync",
    ],
    "bench_throughput": [
        "throughput.disk.fsync_append",
        "throughput.stack_startup",
        "throughput.aiki.worker_startup",
        "throughput.aiki.startup_of_best",
        "throughput.aiki.p1c10.wall",
        "throughput.aiki.p2c10.wall",
    ],
    "bench_scale": [
        "scale.status.100",
        "scale.list.100",
        "scale.claim.100",
        "scale.timer.100",
        "scale.cli_status.100",
        "scale.cli_list.100",
    ],
    "bench_cli": [
        "cli.startup.status_json",
        "cli.startup.status",
        "cli.startup.list_json",
        "cli.startup.help",
        "cli.start_rate.single",
        "cli.start_rate.many",
        "cli.start_rate.cli_inputs",
        "cli_wait.async.per_step",
        "cli_wait.sync.per_step",
    ],
    "bench_memory": ["memory.worker_rss.100", "memory.worker_rss.empty"],
    "bench_recovery": ["recovery.recovered", "recovery.takeover"],
    "bench_cli_wait": [
        "cli_wait.fsync_append",
        "cli_wait.async.per_step",
        "cli_wait.sync.per_step",
    ],
    "bench_ui": ["ui.runs_page.30", "ui.runs_page.300"],
    "bench_postgres": [
        "postgres.steps.aiki.per_step",
        "postgres.throughput.aiki.p1c10",
        "postgres.takeover.median",
        "postgres.takeover.max",
        "postgres.scale.status.100",
        "postgres.scale.claim.100",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_script_runs_in_smoke_mode(script: str, tmp_path: Path) -> None:
    report = tmp_path / "results.json"
    command = [sys.executable, str(BENCHMARKS / f"{script}.py"), "--smoke"]
    done = subprocess.run(
        [*command, "--dir", str(tmp_path), "--json", str(report)],
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    printed = {
        match.group(1): match
        for line in done.stdout.splitlines()
        if (match := RESULT.match(line)) is not None
    }
    missing = [name for name in EXPECTED[script] if name not in printed]
    assert not missing, f"no result line for {missing}:\n{done.stdout}"
    assert "# cpu: " in done.stdout  # the machine is described beside the figures
    written = json.loads(report.read_text())["results"]
    assert set(printed) == set(written)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("aiki-bench-")], "left over"
