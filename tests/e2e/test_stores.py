"""The tier's store reaches the CLI: each store of `conftest.STORES` holds the runs
started through it, and only the file store writes `runs/`."""

from __future__ import annotations

from pathlib import Path

from .support import Invoke, start


def test_a_run_started_is_kept_in_the_store_the_tier_names(
    cli: Invoke, store_kind: str, tmp_path: Path
) -> None:
    run_id = start(cli, "e2e-echo@1.0.0")
    assert cli("status", run_id, "--json").json()["id"] == run_id
    assert (tmp_path / "runs" / "run" / run_id).is_dir() == (store_kind == "file")
