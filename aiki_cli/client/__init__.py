"""The client: the API that the CLI, the dashboard, tests and other programs use to start,
read and control runs and schedules in a store."""

from .runs import Client, RunHandle

__all__ = ["Client", "RunHandle"]
