"""Serving the dashboard with uvicorn on a socket bound here, so `--port 0` is known
before the first request; SIGINT and SIGTERM stop it cleanly, and the process goes on
(to exit 0) instead of dying of the signal afterwards."""

from __future__ import annotations

import ipaddress
import signal
import socket
from collections.abc import Callable
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

from ..errors import BadInput


class _Server(uvicorn.Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # uvicorn raises a caught signal again once it has shut down; the dashboard's
        # command ends on its own instead, with exit status 0.
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
    """Serve `app` on `sock` until SIGINT or SIGTERM; `ready` is called before."""
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = _Server(config)
    ready()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
