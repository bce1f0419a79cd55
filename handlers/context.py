"""What a handler gets for one inbound event: who speaks, their conversation state, the services, an outbox.

Handlers read like the business rule: look at `ctx.speaker`, change the database through `ctx.session`,
and say things with `ctx.reply(...)` / `ctx.send(...)`. Nothing is sent until the engine has committed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

from automations.access_catalog import AccessCatalog
from automations.directory import Directory, DirectoryPerson
from bot.messages import Button, Card, Effect, Form, Inbound, Outbox, Reply

if TYPE_CHECKING:
    from bot.settings import Settings
    from handlers.registry import Registry
    from handlers.report_vectors import ReportVectors


class KnowledgeSearch(Protocol):
    """The knowledge base as handlers use it (kb.search.KnowledgeBase satisfies it)."""

    def search(self, query: str, k: int = 5, *, exclude: frozenset[str] = ...) -> Any: ...


class SendsEmail(Protocol):
    """The mailer as handlers use it (bot.mail.Mailer satisfies it): True when the server took the message."""

    def send(self, to: str, subject: str, body: str) -> bool: ...


@dataclass
class Services:
    settings: Settings
    directory: Directory
    knowledge: Callable[[Session], KnowledgeSearch]  # the KB, with what the database adds to it
    classify: Callable[[str], tuple[str | None, float]]
    registry: Registry  # which handler answers which button and flow (built by bot/bootstrap.py)
    access: AccessCatalog | None = None  # requestable access (FRONTDESK_ACCESS_CATALOG); None: tickets
    extras: dict[str, Any] = field(default_factory=dict)
    # Reports compared by meaning too (the semantic model is in use); None: by their terms only.
    report_vectors: ReportVectors | None = None


@dataclass(frozen=True)
class Speaker:
    """The person behind an inbound event, as the directory knows them (`profile` None: unknown)."""

    email: str
    name: str
    platform: str
    profile: DirectoryPerson | None
    is_technician: bool = False
    is_manager: bool = False
    is_guest: bool = False
    directory_down: bool = False
    platform_user_id: str = ""

    @property
    def known(self) -> bool:
        return self.profile is not None

    @property
    def is_system(self) -> bool:
        """The bot itself, acting on a schedule (a job): no conversation, nobody to reply to."""
        return self.platform == SYSTEM_PLATFORM


SYSTEM_PLATFORM = "system"
# The actor of scheduled work: audit rows and ticket history record "frontdesk".
SYSTEM = Speaker(email="frontdesk", name="frontdesk", platform=SYSTEM_PLATFORM, profile=None)


@dataclass
class State:
    """The speaker's conversation: the flow they are in, its step, and what it has gathered."""

    flow: str = ""
    step: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    thread_ticket_id: int | None = None
    # The last few turns of the conversation (who, text), kept across flows for a ticket's transcript;
    # never a secret (handlers.conversations.remember decides).
    recent: list[dict[str, Any]] = field(default_factory=list)
    conversation_id: int | None = field(default=None, compare=False)  # for log lines
    # The problem talked about is dealt with (handlers.conversations.end_topic); never stored.
    topic_ended: bool = field(default=False, repr=False, compare=False)
    # Flows left during this event (flow, its data), for their `registry.on_end` hooks; never stored.
    ended: list[tuple[str, dict[str, Any]]] = field(default_factory=list, repr=False, compare=False)

    def start(self, flow: str, step: str, **data: Any) -> None:
        self._leave()  # starting a flow abandons the one the person was in
        self.flow, self.step, self.data = flow, step, dict(data)

    def goto(self, step: str, **data: Any) -> None:
        self.step = step
        self.data.update(data)

    def end(self) -> None:
        self._leave()
        self.flow, self.step, self.data = "", "", {}

    def _leave(self) -> None:
        if self.flow:
            self.ended.append((self.flow, dict(self.data)))


@dataclass
class Context:
    session: Session
    speaker: Speaker
    state: State
    services: Services
    inbound: Inbound | None  # None for a scheduled job
    outbox: Outbox = field(default_factory=Outbox)
    mailer: SendsEmail | None = None  # for the few emails whose delivery decides what happens next

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def event(self) -> Inbound:
        """The inbound event being handled (never asked for by a job)."""
        if self.inbound is None:
            raise RuntimeError("a scheduled job has no inbound event")
        return self.inbound

    def reply(self, text: str, buttons: Sequence[Button] = (), **extra: Any) -> None:
        """Answer the speaker where they wrote: their direct messages, or the shared thread they wrote in
        (handlers/places.py moves a private conversation out of it). `form=` opens a dialog now."""
        if self.speaker.is_system:
            return  # a job speaks to people by name (ctx.send), never "back"
        if self.inbound is not None:
            extra.setdefault("place", self.inbound.place)
            if extra.get("form") is not None:
                extra.setdefault("trigger", self.inbound.trigger)
        self.send(self.speaker.email, text, buttons, **extra)

    @property
    def can_show_form(self) -> bool:
        """Whether the event came with the platform's permission to open a dialog (a Slack modal) now."""
        return bool(self.inbound is not None and self.inbound.trigger)

    def submitted(self, name: str) -> str:
        """The answer to question `name` of the form this event submitted ("" when not answered)."""
        values = self.inbound.values if self.inbound is not None else None
        return str((values or {}).get(name) or "").strip()

    def send(
        self,
        to: str,
        text: str,
        buttons: Sequence[Button] = (),
        *,
        card: Card | None = None,
        ticket: int | None = None,
        secret: str | None = None,
        delete_after: int | None = None,
        topic: str = "",
        input_hint: str = "",
        quoted: Sequence[str] = (),
        update: bool = False,
        place: str = "",
        form: Form | None = None,
        trigger: str = "",
        form_errors: Sequence[tuple[str, str]] = (),
        attachment: str = "",
        internal: bool = False,
    ) -> None:
        """`quoted`: what people typed that `text` or `card` carries verbatim (see Reply.quoted);
        `update`: replace the earlier message with the same `topic` (use `ctx.update`); the others are
        Reply's fields of the same names."""
        self.outbox.add(
            Reply(
                to=to,
                text=text,
                buttons=tuple(buttons),
                card=card,
                ticket=ticket,
                secret=secret,
                delete_after=delete_after,
                topic=topic,
                input_hint=input_hint,
                quoted=tuple(part for part in quoted if part),
                update=update,
                place=place,
                form=form,
                trigger=trigger,
                form_errors=tuple(form_errors),
                attachment=attachment,
                internal=internal,
            )
        )

    def update(
        self,
        to: str,
        topic: str,
        text: str,
        buttons: Sequence[Button] = (),
        *,
        card: Card | None = None,
        ticket: int | None = None,
        quoted: Sequence[str] = (),
    ) -> None:
        """Replace the message sent to `to` with `topic` (a card that shows what became of it); where the
        platform cannot edit a message, or it never went out, this is sent as a new one."""
        self.send(to, text, buttons, card=card, ticket=ticket, topic=topic, quoted=quoted, update=True)

    def email(self, to: str, subject: str, body: str) -> None:
        if self.settings.email_enabled and to:
            self.outbox.email(to, subject, body)

    def email_now(self, to: str, subject: str, body: str) -> bool:
        """Send at once and say whether it went (a verification code: the reply depends on it).

        Only from an effect (`after_commit`): an email sent inside the event's transaction would announce
        something that a failed commit then undoes.
        """
        if not (self.mailer and self.settings.email_enabled and to):
            return False
        return self.mailer.send(to, subject, body)

    def after_commit(self, effect: Effect) -> None:
        """Run `effect(fresh_context)` once this event's changes are committed (see bot.engine)."""
        self.outbox.after_commit(effect)

    def triage(self, text: str, buttons: Sequence[Button] = (), **extra: Any) -> None:
        self.send("#" + self.settings.triage_channel, text, buttons, **extra)
