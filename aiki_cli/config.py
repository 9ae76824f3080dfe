"""Where the store and the workflows are: flag > environment > `aiki.yaml` > default."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, one_line

CONFIG_FILE = "aiki.yaml"
ENV = {"runs_dir": "AIKI_RUNS_DIR", "workflows_dir": "AIKI_WORKFLOWS_DIR"}
DEFAULTS = {"runs_dir": "runs", "workflows_dir": "workflows"}
OPTIONAL = ("retention",)  # keys of the file alone, with no default


@dataclass(frozen=True)
class Settings:
    runs_dir: Path
    workflows_dir: Path
    retention: str | None = None  # `retention: 30d`: workers remove runs ended longer ago


def resolve(
    *,
    runs_dir: str | None = None,
    workflows_dir: str | None = None,
    env: Mapping[str, str] = os.environ,
    cwd: Path | None = None,
) -> Settings:
    """The settings in force; the one place that knows the precedence."""
    cwd = cwd or Path.cwd()
    flags = {"runs_dir": runs_dir, "workflows_dir": workflows_dir}
    file = _read_file(cwd / CONFIG_FILE)

    def pick(key: str) -> Path:
        value = flags[key] or env.get(ENV[key]) or file.get(key) or DEFAULTS[key]
        return cwd / value

    return Settings(
        runs_dir=pick("runs_dir"),
        workflows_dir=pick("workflows_dir"),
        retention=file.get("retention"),
    )


def _read_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read ({error.strerror})") from error
    import yaml  # slow to import: paid only where an aiki.yaml exists

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({one_line(str(error))})") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected keys runs_dir and workflows_dir, found a {type(data).__name__}"
        )
    unknown = sorted(set(map(str, data)) - set(DEFAULTS) - set(OPTIONAL))
    if unknown:
        known = ", ".join([*DEFAULTS, *OPTIONAL])
        raise ConfigError(f"{path}: unknown key {unknown[0]!r}; known: {known}")
    bad = [key for key, value in data.items() if not isinstance(value, str) or not value]
    if bad:
        raise ConfigError(f"{path}: {bad[0]} must be a path")
    return data
