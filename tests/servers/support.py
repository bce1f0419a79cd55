"""Shared by the server fixtures: free ports, serving a fake on loopback, and the skip-or-fail rule for
servers that cannot start."""

from __future__ import annotations

import os
import socket
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_on_loopback(
    handler: type[BaseHTTPRequestHandler],
    name: str,
    *,
    tls: ssl.SSLContext | None = None,
    backlog: int | None = None,
) -> tuple[int, Callable[[], None]]:
    """`handler` served on a free 127.0.0.1 port by a daemon thread (over TLS with `tls`): the port, and
    how to stop it. `backlog` for fakes a benchmark floods with connections."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if backlog is not None:
        server.request_queue_size = backlog
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, name=name, daemon=True).start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return int(server.server_address[1]), stop


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def unavailable(reason: str) -> None:
    """Outside CI a missing server skips the test with the reason; in CI it fails it."""
    if in_ci():
        pytest.fail(f"CI=true and a test server could not be started: {reason}", pytrace=False)
    pytest.skip(reason)
