"""Shared by the server fixtures: free ports, and the skip-or-fail rule for servers that cannot start."""

from __future__ import annotations

import os
import socket

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def unavailable(reason: str) -> None:
    """Outside CI a missing server skips the test with the reason; in CI it fails it."""
    if in_ci():
        pytest.fail(f"CI=true and a test server could not be started: {reason}", pytrace=False)
    pytest.skip(reason)
