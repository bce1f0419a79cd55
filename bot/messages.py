"""Platform-neutral messages: what a chat platform adapter turns its events into, and what it renders.

The core never sees a Slack payload or a Teams activity. An adapter builds an `Inbound` (a text or a
button press from a `Person`) and renders each `Reply` (text, buttons, an optional card) in its own format.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Person:
    """Who is speaking, as the platform vouches for them. `email` is how we match the directory."""

    platform: str
    platform_user_id: str
    email: str
    name: str = ""
    is_guest: bool = False
    team: str = ""  # the Slack workspace or Teams tenant the person wrote from
    # What the platform needs to reach the person later without an inbound message (a Teams
    # conversation reference with its service URL); kept in the identities table.
    reference: dict[str, Any] | None = field(default=None, compare=False, hash=False)


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
class FormField:
    """One question of a `Form`: free text, or one of `choices` ((value, label) pairs)."""

    name: str
    label: str
    choices: tuple[tuple[str, str], ...] = ()
    multiline: bool = False
    placeholder: str = ""


@dataclass(frozen=True)
class Form:
    """Questions a platform may ask at once in a dialog (a Slack modal). Submitting it is pressing the
    button `action` with the answers in `Inbound.values`. A handler offers one only when the event allows
    (`Context.can_show_form`); `Reply.text` is what is shown when the platform could not open it."""

    action: str
    title: str
    fields: tuple[FormField, ...]
    submit: str = "Submit"


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
    # A name for this message ("approval:abc"), so that a later reply with `update=True` and the same
    # topic and recipient replaces it in place (a card that shows what became of it).
    topic: str = ""
    update: bool = False
    # What the person is asked to type, a hint the platform honours: "code" means digits typed now are the
    # answer (a verification code), never the number of a button shown with this message.
    input_hint: str = ""
    # The parts of `text` (and of the card's title and values) that people typed, included verbatim: a
    # ticket subject, a relayed message. An adapter escapes every occurrence of them in its own markup
    # (Slack: `<!channel>`, `<@U…>`, `<http://…|…>`; Teams: HTML), so relayed words stay inert words.
    quoted: tuple[str, ...] = ()
    # Where the person wrote from when it was a shared place (a channel thread, opaque to the core): the
    # reply goes back there instead of to their direct messages. Empty: the direct messages.
    place: str = ""
    # A dialog to open now (`trigger`: the platform's short-lived permission from the event that asked).
    form: Form | None = None
    trigger: str = ""
    # The answer to a submitted form that was not accepted: (field name, what is wrong); a platform that
    # showed the form shows these in it, the others show `text`.
    form_errors: tuple[tuple[str, str], ...] = ()
    # A file sent with the message (a path on this machine: the digest's chart); each platform attaches it
    # its own way (Slack: an upload in the same conversation; email: an inline image; console: the path).
    attachment: str = ""
    # A technician-only message (an internal note): platforms mark it so, and it never goes to a requester.
    internal: bool = False


@dataclass(frozen=True)
class Inbound:
    """A text message or a button press. `event_id` makes retried deliveries idempotent."""

    person: Person
    text: str = ""
    action: str | None = None  # the pressed Button.id
    event_id: str | None = None
    thread_ticket: int | None = None  # set when the platform knows the message belongs to a ticket thread
    place: str = ""  # a shared place (a channel thread) the message was written in; see Reply.place
    trigger: str = ""  # lets the answer open a form now (see Reply.form); empty: it cannot
    values: dict[str, str] | None = field(
        default=None, compare=False, hash=False
    )  # the answers of a submitted form (action = the Form's action)

    @property
    def is_action(self) -> bool:
        return self.action is not None


def shorten(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# Work to do after the event's transaction has committed, given a fresh handler context (handlers.context).
Effect = Callable[[Any], None]


@dataclass
class Outbox:
    """What handling one inbound event produced, acted on only after the state is committed.

    `effects` are changes outside the database (a directory write, a code email) deferred until the event's
    own records are safely committed ("commit, then act"); the engine runs each in a transaction of its
    own and merges what it says into the replies. An effect that has changed something outside records it
    in `done_outside` (audit entries, never a secret): if its transaction then fails, its replies are
    still delivered — they describe something that did happen — and those entries are logged instead.
    """

    replies: list[Reply] = field(default_factory=list)
    emails: list[tuple[str, str, str]] = field(default_factory=list)  # (to, subject, body)
    effects: list[Effect] = field(default_factory=list)
    done_outside: list[dict[str, Any]] = field(default_factory=list)

    def add(self, reply: Reply) -> None:
        self.replies.append(reply)

    def email(self, to: str, subject: str, body: str) -> None:
        self.emails.append((to, subject, body))

    def after_commit(self, effect: Effect) -> None:
        self.effects.append(effect)

    def happened(self, **audit_entry: Any) -> None:
        """Something outside the database changed; deliver what follows even if recording it fails."""
        self.done_outside.append(audit_entry)
