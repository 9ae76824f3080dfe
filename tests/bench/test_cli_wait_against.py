"""`bench_cli_wait.py --against DIR` times another checkout's processes pair by pair beside
this one's (issue 19 item 2). In `--smoke` mode, against this very checkout, it must
finish and report both sides and their ratio; timings are never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_against_reports_both_checkouts_and_their_ratio(tmp_path: Path) -> None:
    report = tmp_path / "results.json"
    command = [sys.executable, str(REPO / "benchmarks" / "bench_cli_wait.py"), "--smoke"]
    done = subprocess.run(
        [*command, "--dir", str(tmp_path), "--json", str(report), "--against", str(REPO)],
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(report.read_text())["results"]
    for kind in ("async", "sync"):
        for name in ("per_step", "against.per_step"):
            assert results[f"cli_wait.{kind}.{name}"]["of"] == "fsync_append"
        assert results[f"cli_wait.{kind}.vs_against"]["unit"] == "x"
    assert f"this checkout and {REPO}, pair by pair" in done.stdout
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("aiki-bench-")], "left over"
