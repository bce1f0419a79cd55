"""The port every platform implements to deliver what the bot says, and the email it sends.

A deliverer knows where a recipient lives on its platform (`route`) and how to send, update and delete a
message there. It renders the neutral `Reply` itself (console text, Block Kit, an Adaptive Card) and
returns the platform's reference to what it posted, so a later update or deletion can find it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from bot.messages import Reply

MessageRef = dict[str, Any]  # Slack {channel, ts}; Teams {conversation, activity}; email {message_id}
Address = dict[str, Any]  # Slack {user} or {channel}; Teams {conversation reference}; email {email}


@dataclass(frozen=True)
class Email:
    """An email as the outbox keeps it: the mailer adds Date, Message-ID and the ticket's thread."""

    to: str
    subject: str
    body: str
    attachment: str = ""  # a file to attach (a PNG is shown inline, in the message)


Payload = Reply | Email


class DeliveryError(Exception):
    """A delivery that did not happen. `permanent`: retrying cannot help (the channel is gone)."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Deliverer(Protocol):
    """One platform's way out. `inline` deliverers (the console, a test recorder) are fast and local: the
    engine delivers to them in the handling thread right after the commit, so a chat feels synchronous;
    the others are delivered by the dispatcher's background thread, so a slow server never stalls a chat."""

    platform: str
    inline: bool

    def route(self, recipient: str, identity: dict[str, Any] | None) -> Address | None:
        """Where `recipient` (an email or `#channel`) is reached on this platform, None when it is not.
        `identity` is what the platform told us about the person on their last inbound event."""
        ...

    def send(self, address: Address, payload: Payload) -> MessageRef: ...

    def update(self, ref: MessageRef, payload: Payload) -> MessageRef: ...

    def delete(self, ref: MessageRef) -> None: ...
