"""Where the store and the workflows are: flag > environment > `aiki.yaml` > default.

The store is a location: a directory (the file store) or a `postgresql://` URL. It is
named by `--store` / `AIKI_STORE` / `store:`, or, as a directory only, by its older alias
`--runs-dir` / `AIKI_RUNS_DIR` / `runs_dir:`; naming both at one level is refused.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from .errors import BadInput, ConfigError, one_line

CONFIG_FILE = "aiki.yaml"
ENV = {"store": "AIKI_STORE", "runs_dir": "AIKI_RUNS_DIR", "workflows_dir": "AIKI_WORKFLOWS_DIR"}
FLAGS = {"store": "--store", "runs_dir": "--runs-dir", "workflows_dir": "--workflows-dir"}
DEFAULTS = {"store": "runs", "runs_dir": "runs", "workflows_dir": "workflows"}
OPTIONAL = ("retention",)  # keys of the file alone, with no default
URL_SCHEMES = ("postgresql://", "postgres://")


def is_url(location: str) -> bool:
    """Whether a store location is a database URL rather than a directory."""
    return location.startswith(URL_SCHEMES)


class Settings(NamedTuple):  # not a dataclass: `aiki status` starts without `inspect`
    store: str  # a directory's absolute path, or a database URL
    workflows_dir: Path
    retention: str | None = None  # `retention: 30d`: workers remove runs ended longer ago

    @property
    def runs_dir(self) -> Path:
        """The store's directory; `BadInput` when the store is a database."""
        if is_url(self.store):
            raise BadInput(f"this command needs a store directory; {_shown(self.store)} is not one")
        return Path(self.store)


def resolve(
    *,
    runs_dir: str | None = None,
    workflows_dir: str | None = None,
    store: str | None = None,
    env: Mapping[str, str] = os.environ,
    cwd: Path | None = None,
) -> Settings:
    """The settings in force; the one place that knows the precedence."""
    cwd = cwd or Path.cwd()
    file = _read_file(cwd / CONFIG_FILE)
    levels = [
        ({"store": store, "runs_dir": runs_dir}, FLAGS, "the command line"),
        ({key: env.get(ENV[key]) for key in ("store", "runs_dir")}, ENV, "the environment"),
        ({key: file.get(key) for key in ("store", "runs_dir")}, None, str(cwd / CONFIG_FILE)),
    ]
    location = next(
        (found for values, names, where in levels if (found := _one(values, names, where))),
        DEFAULTS["store"],
    )
    folder = workflows_dir or env.get(ENV["workflows_dir"]) or file.get("workflows_dir")
    return Settings(
        store=location if is_url(location) else str(cwd / location),
        workflows_dir=cwd / (folder or DEFAULTS["workflows_dir"]),
        retention=file.get("retention"),
    )


def _one(values: dict[str, str | None], names: dict[str, str] | None, where: str) -> str | None:
    """The store one level names, by `store` or its alias `runs_dir`; both is refused."""
    store, runs_dir = values["store"], values["runs_dir"]
    if store and runs_dir and store != runs_dir:
        both = f"{names['store']} and {names['runs_dir']}" if names else "store: and runs_dir:"
        raise ConfigError(f"{where} gives both {both}; keep one of them")
    if runs_dir and is_url(runs_dir):
        alias = names["runs_dir"] if names else "runs_dir:"
        raise ConfigError(f"{alias} takes a directory; give a database URL with --store")
    return store or runs_dir


def _shown(location: str) -> str:
    """A URL without its password, for messages."""
    head, at, tail = location.partition("@")
    if not at or ":" not in head.partition("://")[2]:
        return location
    scheme, _, user = head.partition("://")
    return f"{scheme}://{user.partition(':')[0]}@{tail}"


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
            f"{path}: expected keys store and workflows_dir, found a {type(data).__name__}"
        )
    unknown = sorted(set(map(str, data)) - set(DEFAULTS) - set(OPTIONAL))
    if unknown:
        known = ", ".join([*DEFAULTS, *OPTIONAL])
        raise ConfigError(f"{path}: unknown key {unknown[0]!r}; known: {known}")
    bad = [key for key, value in data.items() if not isinstance(value, str) or not value]
    if bad:
        what = "a directory or a postgresql:// URL" if bad[0] == "store" else "a path"
        raise ConfigError(f"{path}: {bad[0]} must be {what}")
    return data
