"""The global options (`--store`, its directory alias `--runs-dir`, `--workflows-dir`):
read once, anywhere on the command line, and turned into the settings, the client and the
workflows a command uses."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import config
from ..authoring.loader import load_workflows
from ..authoring.workflow import WorkflowVersion
from ..client import Client
from ..errors import BadInput, WorkflowNotFound
from . import streams

GLOBAL_OPTIONS = ("--runs-dir", "--workflows-dir", "--store")
_GLOBALS_WITH_VALUE = tuple(option + "=" for option in GLOBAL_OPTIONS)  # --runs-dir=runs


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
        streams.divert()
        return load_workflows(self.settings().workflows_dir)

    def version(self, ref: str) -> WorkflowVersion:
        """The version `ref` names in the workflows directory; `WorkflowNotFound` if none."""
        versions = self.workflows()
        if ref not in versions:
            raise WorkflowNotFound(ref, sorted(versions))
        return versions[ref]


def hoist_globals(args: Sequence[str]) -> list[str]:
    """Move the global options to the front, so they work after the command name too."""
    front, rest = split_globals(args)
    return front + rest


def split_globals(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """The global options with their values, and the other tokens, each in order."""
    front: list[str] = []
    rest: list[str] = []
    tokens = iter(args)
    for token in tokens:
        if token in GLOBAL_OPTIONS:
            value = next(tokens, None)
            if value is None:
                raise BadInput(f"Option '{token}' requires an argument.")
            front += [token, value]
        elif token.startswith(_GLOBALS_WITH_VALUE):
            front.append(token)
        else:
            rest.append(token)
    return front, rest
