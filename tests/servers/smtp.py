"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest

from tests.servers.support import free_port, unavailable


@dataclass
class Mailbox:
    host: str
    port: int
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    def wait_for(self, address: str, count: int = 1, timeout: float = 5.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.to(address)) < count:
            time.sleep(0.02)
        return self.to(address)


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        unavailable("aiosmtpd is not installed (it is in requirements-dev.txt)")
    mailbox = Mailbox("127.0.0.1", free_port())
    controller = Controller(mailbox, hostname=mailbox.host, port=mailbox.port)
    try:
        controller.start()
    except Exception as error:  # aiosmtpd raises a bare RuntimeError/OSError when it cannot bind
        unavailable(f"aiosmtpd could not start on {mailbox.host}:{mailbox.port}: {error}")
    try:
        yield mailbox
    finally:
        controller.stop()
