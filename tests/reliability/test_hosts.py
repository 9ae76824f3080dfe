"""Workers on several hosts sharing one PostgreSQL store: when a host dies holding runs,
another host takes them over, and every run completes exactly once.

Three "hosts" are network namespaces (tests/reliability/hosts.py), each reaching the
server over its own veth pair: host A and host B run a worker each, host C starts the
runs. A claims every run and is held inside the run's second task; then B starts, and A
either dies whole (SIGKILL to every process in its namespace) or loses its network (its
link set down, its processes running on). The server ends A's sessions (at once for the
dead processes; for the cut host when its keepalives go unanswered), their advisory locks
go with them, and B claims the runs. The test prints how long after A's end B began each
run again (no timing is asserted).

Exactly once: each run ends `completed` once, with the results its journal recorded; its
first task (journaled before A ended) never executes again; its last executes once; the
held task's recorded result is B's, whatever A's body did after it lost its host.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aiki_cli import Client
from aiki_cli.model.entry import StatusChanged, TaskCompleted
from aiki_cli.model.status import RunStatus
from aiki_cli.store.postgres.connect import target
from aiki_cli.store.postgres.schema import migrate

from ..integration.harness import Process, Processes, wait_until
from .hosts import PORT, Host, hosts, server, unavailable
from .test_kill_soak import Execution, read_executions

pytestmark = pytest.mark.slow

RUNS = 6
ACTOR = Path(__file__).parent / "_host_actor.py"
TAKEOVER_TIMEOUT = 60.0


class Cluster:
    """The three hosts, the server they share, and the processes started on them."""

    def __init__(self, hosts: list[Host], processes: Processes, root: Path) -> None:
        self.a, self.b, self.c = hosts
        self.processes = processes
        self.root = root
        self.probe = root / "probe"
        self.probe.mkdir()
        self.url = self.url_from(self.a)  # the test's own connection, from this machine
        migrate(target(self.url))
        self.client = Client(self.url)
        self._logs = 0

    @staticmethod
    def url_from(host: Host) -> str:
        """The store as `host` reaches it: the server's address on the host's veth pair."""
        return f"postgresql://postgres@{host.gateway}:{PORT}/postgres"

    def spawn(self, host: Host, *args: str) -> Process:
        self._logs += 1
        env = {"AIKI_TEST_PROBE": str(self.probe), "PATH": "/usr/sbin:/usr/bin:/bin"}
        command = host.exec(sys.executable, str(ACTOR), args[0], self.url_from(host), *args[1:])
        log = self.root / f"{host.namespace}-{self._logs}.log"
        return self.processes.spawn(command, env=env, cwd=self.root, log=log)

    def start_runs(self) -> list[str]:
        """Start the runs from host C, through its own connection."""
        command = self.c.exec(sys.executable, str(ACTOR), "start", self.url_from(self.c), str(RUNS))
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
        assert done.returncode == 0, done.stderr
        return list(json.loads(done.stdout))

    def begun(self) -> dict[str, list[Execution]]:
        """Each run's beginnings of its held task, by key, in the order they began."""
        calls = read_executions(self.probe)
        return {key: found for (key, call), found in calls.items() if call == "held-begun"}

    def close(self) -> None:
        self.client.store.close()  # type: ignore[attr-defined]


@pytest.fixture
def cluster(processes: Processes, tmp_path: Path) -> Iterator[Cluster]:
    """The hosts, the server and the test's client; torn down in reverse, however the
    test ends: the processes killed, the client closed, the server stopped, the
    namespaces removed."""
    with contextlib.ExitStack() as stack:
        try:
            three = stack.enter_context(hosts(3))
        except OSError as error:
            unavailable(str(error))
        stack.enter_context(server([host.gateway for host in three]))
        cluster = Cluster(three, processes, tmp_path)
        stack.callback(cluster.close)
        stack.callback(processes.kill_all)
        yield cluster


def held_by(cluster: Cluster, pid: int) -> Callable[[], bool]:
    def check() -> bool:
        begun = cluster.begun()
        return len(begun) == RUNS and all(found[-1].pid == pid for found in begun.values())

    return check


def taken_over(cluster: Cluster, dead: int) -> Callable[[], bool]:
    def check() -> bool:
        begun = cluster.begun()
        return len(begun) == RUNS and all(found[-1].pid != dead for found in begun.values())

    return check


def lose_host(cluster: Cluster, end: Callable[[Host], None], how: str) -> list[str]:
    """Run the scenario: A holds every run, B is up, A ends by `end`; B takes over."""
    worker_a = cluster.spawn(cluster.a, "worker")
    run_ids = cluster.start_runs()
    wait_until(held_by(cluster, worker_a.pid), f"host A to hold all {RUNS} runs", alive=worker_a)
    worker_b = cluster.spawn(cluster.b, "worker")
    wait_until(lambda: len(cluster.client.store.live_workers()) == 2, "B", alive=worker_b)
    ended = time.time_ns()
    end(cluster.a)
    wait_until(
        taken_over(cluster, worker_a.pid),
        "host B to take over",
        alive=worker_b,
        timeout=TAKEOVER_TIMEOUT,
    )
    takeovers = sorted((found[-1].started - ended) / 1e9 for found in cluster.begun().values())
    print(
        f"\ntakeover after host A was {how}: first run {takeovers[0]:.3f} s, "
        f"last of {RUNS} {takeovers[-1]:.3f} s"
    )
    (cluster.probe / "go").touch()
    wait_until(lambda: all(ended_(cluster, run_id) for run_id in run_ids), "the runs' ends")
    return run_ids


def ended_(cluster: Cluster, run_id: str) -> bool:
    return cluster.client.store.read_summary(run_id, tasks=False).status.terminal


def assert_exactly_once(cluster: Cluster, run_ids: list[str], dead: int) -> None:
    calls = read_executions(cluster.probe)
    for run_id in run_ids:
        info = cluster.client.store.read_summary(run_id)
        entries = cluster.client.store.read_run(run_id)[1]
        assert info.status == RunStatus.COMPLETED, (run_id, info.error)
        completions = [e for e in entries if isinstance(e, StatusChanged) and e.new == "completed"]
        assert len(completions) == 1
        assert len([e for e in entries if isinstance(e, TaskCompleted)]) == 3
        key, tokens = info.result["key"], info.result["tokens"]
        assert [e.token for e in calls[key, "first"]] == [tokens[0]]  # never again
        assert [e.token for e in calls[key, "last"]] == [tokens[2]]  # once
        held = {e.token: e.pid for e in calls[key, "held"]}
        assert held[tokens[1]] != dead  # the recorded result is the survivor's


@pytest.mark.timeout(240)
def test_a_host_killed_whole_hands_its_runs_to_another(cluster: Cluster) -> None:
    worker_pids: list[int] = []

    def kill(host: Host) -> None:
        worker_pids.extend(host.pids())
        host.kill_everything()

    run_ids = lose_host(cluster, kill, "killed (SIGKILL to every process)")
    assert_exactly_once(cluster, run_ids, dead=worker_pids[0])


@pytest.mark.timeout(240)
def test_a_host_cut_off_the_network_hands_its_runs_to_another(cluster: Cluster) -> None:
    pids: list[int] = []

    def cut(host: Host) -> None:
        pids.extend(host.pids())
        host.cut()

    run_ids = lose_host(cluster, cut, "cut off the network (its worker running on)")
    assert_exactly_once(cluster, run_ids, dead=pids[0])
