"""The global options (`--store`, its directory alias `--runs-dir`, `--workflows-dir`):
read once, anywhere on the command line, and turned into the settings, the client and the
workflows a command uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .. import config
from ..errors import BadInput, WorkflowNotFound
from . import streams
from .argv import GLOBAL_OPTIONS as GLOBAL_OPTIONS
from .argv import hoist_globals as hoist_globals
from .argv import split_globals as split_globals

if TYPE_CHECKING:
    from ..authoring.workflow import WorkflowVersion
    from ..client import Client


@dataclass
class Options:
    runs_dir: str | None
    workflows_dir: str | None
    store: str | None = None
    opened: list[Client] = field(default_factory=list)  # clients whose connections to close

    def close(self) -> None:
        """Close the connections of the clients made for the command (a database's)."""
        for client in self.opened:
            client.close()
        self.opened.clear()

    def settings(self) -> config.Settings:
        return config.resolve(
            runs_dir=self.runs_dir, workflows_dir=self.workflows_dir, store=self.store
        )

    def client(self) -> Client:
        from ..client import Client  # a command that reads runs loads no workflow code

        location = self.settings().store
        if config.is_url(location):
            client = Client(location)
            self.opened.append(client)
            return client
        runs_dir = Path(location)
        if runs_dir.exists() and not runs_dir.is_dir():
            raise BadInput(f"the runs directory {runs_dir} is a file; pass --runs-dir a directory")
        return Client(runs_dir)

    def workflows(self) -> dict[str, WorkflowVersion]:
        """The versions the workflows directory defines. From here on what user code
        prints goes to stderr, so stdout stays the command's own."""
        from ..authoring.loader import load_workflows

        streams.divert()
        return load_workflows(self.settings().workflows_dir)

    def version(self, ref: str) -> WorkflowVersion:
        """The version `ref` names in the workflows directory; `WorkflowNotFound` if none."""
        versions = self.workflows()
        if ref not in versions:
            raise WorkflowNotFound(ref, sorted(versions))
        return versions[ref]
