"""Platform-neutral messages: what a chat platform adapter turns its events into, and what it renders.

The core never sees a Slack payload or a Teams activity. An adapter builds an `Inbound` (a text or a
button press from a `Person`) and renders each `Reply` (text, buttons, an optional card) in its own format.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Person:
    """Who is speaking, as the platform vouches for them. `email` is how we match the directory."""

    platform: str
    platform_user_id: str
    email: str
    name: str = ""
    is_guest: bool = False


@dataclass(frozen=True)
class Button:
    """A choice offered with a reply. `id` is `action` or `action:argument`, e.g. `ticket.claim:12`."""

    id: str
    label: str
    style: str = ""  # "primary" | "danger" | "" — a hint the platform may ignore

    @property
    def action(self) -> str:
        return self.id.split(":", 1)[0]

    @property
    def argument(self) -> str:
        return self.id.split(":", 1)[1] if ":" in self.id else ""


@dataclass(frozen=True)
class Card:
    """A simple card: a title and label/value rows (a ticket, an approval)."""

    title: str
    fields: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Reply:
    """One message the bot sends. `to` is an email, or `#name` for a channel (the triage channel)."""

    to: str
    text: str
    buttons: tuple[Button, ...] = ()
    card: Card | None = None
    ticket: int | None = None
    # A one-time secret (a temporary password). Adapters show it privately and delete it after
    # `delete_after` seconds where the platform allows; it is never logged or stored.
    secret: str | None = None
    delete_after: int | None = None


@dataclass(frozen=True)
class Inbound:
    """A text message or a button press. `event_id` makes retried deliveries idempotent."""

    person: Person
    text: str = ""
    action: str | None = None  # the pressed Button.id
    event_id: str | None = None
    thread_ticket: int | None = None  # set when the platform knows the message belongs to a ticket thread

    @property
    def is_action(self) -> bool:
        return self.action is not None


@dataclass
class Outbox:
    """Replies collected while handling one inbound event, sent only after the state is committed."""

    replies: list[Reply] = field(default_factory=list)
    emails: list[tuple[str, str, str]] = field(default_factory=list)  # (to, subject, body)

    def add(self, reply: Reply) -> None:
        self.replies.append(reply)

    def email(self, to: str, subject: str, body: str) -> None:
        self.emails.append((to, subject, body))
