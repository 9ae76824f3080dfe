"""Where the store and the workflows are: flag > AIKI_* env > aiki.yaml in the cwd > default."""

from __future__ import annotations

from pathlib import Path

import pytest

from .support import WORKFLOWS, Invoke, assert_one_error, run_dirs


def stores(cwd: Path) -> list[str]:
    """The folders of the cwd that hold runs."""
    return sorted(path.name for path in cwd.iterdir() if run_dirs(path))


@pytest.mark.parametrize(
    ("flag", "env", "file", "expected"),
    [
        (None, None, None, "runs"),
        (None, None, "from-file", "from-file"),
        (None, "from-env", None, "from-env"),
        (None, "from-env", "from-file", "from-env"),
        ("from-flag", None, "from-file", "from-flag"),
        ("from-flag", "from-env", "from-file", "from-flag"),
    ],
)
def test_runs_dir_precedence(
    cli: Invoke,
    tmp_path: Path,
    flag: str | None,
    env: str | None,
    file: str | None,
    expected: str,
) -> None:
    if file:
        (tmp_path / "aiki.yaml").write_text(f"runs_dir: {file}\n")
    flags = ["--runs-dir", flag] if flag else []

    outcome = cli(*flags, "start", "e2e-echo@1.0.0", env={"AIKI_RUNS_DIR": env} if env else {})

    assert stores(tmp_path) == [expected]
    assert run_dirs(tmp_path / expected) == [outcome.run_id()]


def test_every_layer_through_the_executable_with_the_flag_after_the_command(
    aiki: Invoke, tmp_path: Path
) -> None:
    (tmp_path / "aiki.yaml").write_text("runs_dir: from-file\n")

    outcome = aiki(
        "start", "e2e-echo@1.0.0", "--runs-dir", "from-flag", env={"AIKI_RUNS_DIR": "from-env"}
    )

    assert stores(tmp_path) == ["from-flag"]
    assert run_dirs(tmp_path / "from-flag") == [outcome.run_id()]


def test_workflows_dir_from_the_file_env_and_flag(
    cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIKI_WORKFLOWS_DIR")
    (tmp_path / "empty").mkdir()
    (tmp_path / "aiki.yaml").write_text(f"workflows_dir: {WORKFLOWS}\nruns_dir: store\n")

    assert cli("start", "e2e-echo@1.0.0").code == 0
    assert stores(tmp_path) == ["store"]
    env = {"AIKI_WORKFLOWS_DIR": "empty"}
    assert cli("workflows", "--json", env=env).json() == []  # env beats the file
    flag_wins = cli("--workflows-dir", str(WORKFLOWS), "workflows", "--json", env=env)
    assert len(flag_wins.json()) == 7


def test_the_default_workflows_dir_is_workflows_in_the_cwd(
    cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIKI_WORKFLOWS_DIR")

    assert_one_error(cli("workflows"), 2, str(tmp_path / "workflows"))


def test_an_empty_aiki_yaml_means_the_defaults(cli: Invoke, tmp_path: Path) -> None:
    (tmp_path / "aiki.yaml").write_text("# nothing configured yet\n")

    run_id = cli("start", "e2e-echo@1.0.0").run_id()

    assert run_dirs(tmp_path / "runs") == [run_id]


BAD_FILES = {
    "not-yaml": ("runs_dir: [unclosed\n", "not valid YAML"),
    "unknown-key": ("run_dir: typo\n", "unknown key 'run_dir'"),
    "a-list": ("- runs_dir\n", "found a list"),
    "not-a-path": ("runs_dir: 5\n", "runs_dir must be a path"),
    "empty-path": ("workflows_dir: ''\n", "workflows_dir must be a path"),
}


@pytest.mark.parametrize(("text", "said"), BAD_FILES.values(), ids=BAD_FILES.keys())
@pytest.mark.parametrize("args", [["list"], ["start", "e2e-echo@1.0.0"]], ids=["list", "start"])
def test_an_invalid_aiki_yaml_exits_2_with_one_line(
    cli: Invoke, tmp_path: Path, text: str, said: str, args: list[str]
) -> None:
    (tmp_path / "aiki.yaml").write_text(text)

    assert_one_error(cli(*args), 2, "aiki.yaml", said)
    assert stores(tmp_path) == []


def test_an_aiki_yaml_that_cannot_be_read_exits_2(cli: Invoke, tmp_path: Path) -> None:
    (tmp_path / "aiki.yaml").mkdir()

    assert_one_error(cli("list"), 2, "aiki.yaml", "cannot be read")


def test_an_invalid_aiki_yaml_through_the_executable(aiki: Invoke, tmp_path: Path) -> None:
    (tmp_path / "aiki.yaml").write_text("runs_dir: [unclosed\n")

    assert_one_error(aiki("start", "e2e-echo@1.0.0"), 2, "aiki.yaml", "not valid YAML")
    assert stores(tmp_path) == []
