"""Where the store is (SPEC §7): `--store` / `AIKI_STORE` / `store:`, a directory or a
`postgresql://` URL, with `--runs-dir` / `AIKI_RUNS_DIR` / `runs_dir:` its directory alias."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiki_cli.config import resolve
from aiki_cli.errors import BadInput, ConfigError

URL = "postgresql://ann:secret@db.example/orders"


def test_the_default_store_is_the_runs_directory(tmp_path: Path) -> None:
    settings = resolve(env={}, cwd=tmp_path)
    assert settings.store == str(tmp_path / "runs")
    assert settings.runs_dir == tmp_path / "runs"


@pytest.mark.parametrize(
    ("flag", "env", "file", "expected"),
    [
        (None, None, f"store: {URL}", URL),
        (None, {"AIKI_STORE": URL}, "store: elsewhere", URL),
        (None, {"AIKI_RUNS_DIR": "from-env"}, f"store: {URL}", "from-env"),
        ({"store": "from-flag"}, {"AIKI_STORE": URL}, None, "from-flag"),
        ({"runs_dir": "from-flag"}, {"AIKI_STORE": URL}, None, "from-flag"),
        ({"store": URL}, {"AIKI_RUNS_DIR": "from-env"}, "runs_dir: f", URL),
    ],
)
def test_flag_beats_environment_beats_file_whichever_name_each_uses(
    tmp_path: Path,
    flag: dict[str, str] | None,
    env: dict[str, str] | None,
    file: str | None,
    expected: str,
) -> None:
    if file:
        (tmp_path / "aiki.yaml").write_text(file + "\n")
    settings = resolve(env=env or {}, cwd=tmp_path, **(flag or {}))
    assert settings.store == (expected if expected == URL else str(tmp_path / expected))


def test_a_url_store_has_no_runs_directory(tmp_path: Path) -> None:
    settings = resolve(store=URL, env={}, cwd=tmp_path)
    with pytest.raises(BadInput, match="needs a store directory") as caught:
        _ = settings.runs_dir
    assert "secret" not in str(caught.value)
    assert "postgresql://ann@db.example/orders" in str(caught.value)


@pytest.mark.parametrize(
    ("flags", "env", "file", "words"),
    [
        ({"store": "a", "runs_dir": "b"}, {}, None, "--store and --runs-dir"),
        ({}, {"AIKI_STORE": "a", "AIKI_RUNS_DIR": "b"}, None, "AIKI_STORE and AIKI_RUNS_DIR"),
        ({}, {}, "store: a\nruns_dir: b", "store: and runs_dir:"),
        ({"runs_dir": URL}, {}, None, "--runs-dir takes a directory"),
        ({}, {}, "store: ''", "store must be a directory or a postgresql:// URL"),
    ],
)
def test_an_ambiguous_or_misplaced_store_is_refused_in_one_line(
    tmp_path: Path, flags: dict[str, str], env: dict[str, str], file: str | None, words: str
) -> None:
    if file:
        (tmp_path / "aiki.yaml").write_text(file + "\n")
    with pytest.raises(ConfigError, match=words) as caught:
        resolve(env=env, cwd=tmp_path, **flags)
    assert "\n" not in str(caught.value)
    assert caught.value.exit_code == 2


def test_the_same_store_under_both_names_is_not_ambiguous(tmp_path: Path) -> None:
    assert resolve(store="x", runs_dir="x", env={}, cwd=tmp_path).store == str(tmp_path / "x")
