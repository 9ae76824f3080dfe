"""Several "hosts" on one machine, for tests/reliability/test_hosts.py: network namespaces,
each joined to this one by a veth pair, and a PostgreSQL server listening on this side's
end of every pair (and on nothing else), as a database server on a network would.

Traffic only goes to addresses on this machine: the veth addresses of the namespaces made
here, in 10.<random>.<host>.0/30. Everything made is removed on the way out, whatever
happens: the processes in a namespace are killed, the namespace and its pair deleted,
the server stopped and its directory removed.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.postgres_server import binaries

PORT = 5432
# The server notices a host that vanished (not just a process that died) by TCP
# keepalives on idle sessions and a timeout on unacknowledged writes; what the README's
# "Many machines" section recommends, in seconds rather than hours.
SERVER_SETTINGS = {
    "tcp_keepalives_idle": "1",
    "tcp_keepalives_interval": "1",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "3000",
    "client_connection_check_interval": "1000",
}


@dataclass(frozen=True)
class Host:
    """A network namespace and the addresses of its veth pair."""

    namespace: str
    outside: str  # the pair's end on this machine's side
    inside: str  # the end in the namespace
    gateway: str  # this side's address: the server listens on it
    address: str  # the namespace's address

    def exec(self, *command: str) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *command]

    def pids(self) -> list[int]:
        done = subprocess.run(
            ["ip", "netns", "pids", self.namespace], capture_output=True, text=True, check=False
        )
        return [int(pid) for pid in done.stdout.split()]

    def kill_everything(self) -> None:
        """SIGKILL every process of the host: the host dies."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def cut(self) -> None:
        """Take the host off the network, its processes running on."""
        _ip("-n", self.namespace, "link", "set", self.inside, "down")


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise OSError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def unavailable(reason: str) -> None:
    """Skip the test, saying why; in CI, fail it: CI must run it."""
    message = f"several hosts cannot be made here: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextlib.contextmanager
def hosts(count: int) -> Iterator[list[Host]]:
    """`count` namespaces, each with its veth pair up and addressed."""
    tag = secrets.token_hex(2)
    net = f"10.{secrets.choice(range(200, 250))}"
    made: list[Host] = []
    try:
        for n in range(1, count + 1):
            host = Host(
                f"aiki-{tag}-{n}", f"ak{tag}{n}o", f"ak{tag}{n}i", f"{net}.{n}.1", f"{net}.{n}.2"
            )
            _ip("netns", "add", host.namespace)
            made.append(host)
            _join(host)
        yield made
    finally:
        for host in made:
            host.kill_everything()
            with contextlib.suppress(OSError):
                _ip("netns", "del", host.namespace)
            with contextlib.suppress(OSError):  # gone with the namespace, normally
                _ip("link", "del", host.outside)


def _join(host: Host) -> None:
    _ip("link", "add", host.outside, "type", "veth", "peer", "name", host.inside)
    _ip("link", "set", host.inside, "netns", host.namespace)
    _ip("addr", "add", f"{host.gateway}/30", "dev", host.outside)
    _ip("link", "set", host.outside, "up")
    _ip("-n", host.namespace, "addr", "add", f"{host.address}/30", "dev", host.inside)
    _ip("-n", host.namespace, "link", "set", host.inside, "up")
    _ip("-n", host.namespace, "link", "set", "lo", "up")


@contextlib.contextmanager
def server(addresses: list[str]) -> Iterator[Path]:
    """A throwaway PostgreSQL server listening on `addresses` (and its unix socket, in the
    directory yielded), trusting connections from 10/8; stopped and removed afterwards."""
    bin_dir = binaries()
    if bin_dir is None:
        unavailable("no PostgreSQL server binaries (initdb)")
    assert bin_dir is not None
    home = Path(tempfile.mkdtemp(prefix="aiki-hosts-pg-"))
    data = home / "data"
    prefix = _as_postgres(home)
    started = False
    try:
        initdb = [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
        _run([*prefix, *initdb, "--no-sync", "-E", "UTF8"])
        with open(data / "pg_hba.conf", "a") as hba:
            hba.write("host all all 10.0.0.0/8 trust\n")
        settings = {"listen_addresses": ",".join(addresses), "port": str(PORT)}
        options = f"-k {home} " + " ".join(
            f"-c {name}={value}" for name, value in {**settings, **SERVER_SETTINGS}.items()
        )
        started = True
        pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(home / "log")]
        _run([*prefix, *pg_ctl, "-o", options, "-w", "-t", "60", "start"])
        yield home
    finally:
        if started:
            stop = [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
            subprocess.run([*prefix, *stop], capture_output=True, check=False)
        shutil.rmtree(home, ignore_errors=True)


def _as_postgres(home: Path) -> list[str]:
    """Run the server as `postgres` when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return []
    user = pwd.getpwnam("postgres")
    os.chown(home, user.pw_uid, user.pw_gid)
    return ["runuser", "-u", "postgres", "--"]


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{command[-1]} failed: {done.stdout}{done.stderr}")
