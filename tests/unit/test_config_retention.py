"""`retention:` in aiki.yaml: read by `config.resolve`, named among the known keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiki_cli import config
from aiki_cli.errors import ConfigError


def test_retention_is_read_from_the_file_and_absent_by_default(tmp_path: Path) -> None:
    assert config.resolve(env={}, cwd=tmp_path).retention is None
    (tmp_path / "aiki.yaml").write_text("retention: 30d\n")
    assert config.resolve(env={}, cwd=tmp_path).retention == "30d"


def test_an_unknown_key_names_retention_among_the_known_ones(tmp_path: Path) -> None:
    (tmp_path / "aiki.yaml").write_text("retain: 30d\n")
    with pytest.raises(ConfigError, match="known: store, runs_dir, workflows_dir, retention"):
        config.resolve(env={}, cwd=tmp_path)
