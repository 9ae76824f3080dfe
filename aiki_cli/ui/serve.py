"""Serving the dashboard with uvicorn on a socket bound here, so `--port 0` is known
before the first request; SIGINT and SIGTERM stop it cleanly, and the process goes on
(to exit 0) instead of dying of the signal afterwards."""

from __future__ import annotations

import contextlib
import ipaddress
import signal
import socket
from collections.abc import Callable, Iterator
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

from ..errors import BadInput


class _Server(uvicorn.Server):
    """uvicorn's server, with the signals handled from before the URL is printed (a
    Ctrl-C as soon as it shows stops it), and not raised again after it shut down: the
    dashboard's command ends on its own, with exit status 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # `serve` has installed `handle_exit` already

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on `host`:`port` (0: any free port); `BadInput` when it cannot."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        reason = error.strerror or str(error)
        raise BadInput(
            f"cannot listen on {host}:{port}: {reason}; pass another --port (0 picks a free one)"
        ) from None
    return sock


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_of(host: str, port: int, token: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/?token={token}"


def serve(app: ASGIApp, sock: socket.socket, ready: Callable[[], None]) -> None:
    """Serve `app` on `sock` until SIGINT or SIGTERM; `ready` is called once they stop it."""
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = _Server(config)
    stops = (signal.SIGINT, signal.SIGTERM)
    before = {sig: signal.signal(sig, server.handle_exit) for sig in stops}
    try:
        ready()
        server.run(sockets=[sock])
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
        sock.close()
