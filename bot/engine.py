"""The pipeline every inbound event goes through, whatever platform it came from.

    validate → (one transaction: dedupe the event id → identify the speaker → load their conversation
    → route to a handler → save the conversation) → send emails → return the replies

Nothing reaches a person before the transaction commits, so a crash never announces a change that did
not happen, and a retried delivery (same event id) acts once. Failures become plain replies: the
database being down says so; anything unexpected opens a ticket so the request is not lost.
"""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot import logs
from bot.clock import now
from bot.mail import Mailer
from bot.messages import Inbound, Outbox, Reply
from bot.store.models import ProcessedEvent
from handlers import conversations, people, router, tickets
from handlers.context import Context, Services, State

log = structlog.get_logger(__name__)

DATABASE_DOWN = (
    "I can't reach my database right now, so I couldn't do that and nothing was changed. "
    "Please try again in a few minutes; if it's urgent, contact {contact}."
)


class Bot:
    def __init__(self, services: Services, sessions: sessionmaker[Session], mailer: Mailer) -> None:
        self.services = services
        self.sessions = sessions
        self.mailer = mailer

    def handle(self, inbound: Inbound) -> list[Reply]:
        logs.clear()
        logs.bind(
            person=inbound.person.email,
            platform=inbound.person.platform,
            event=inbound.event_id or uuid.uuid4().hex[:12],
        )
        problem = self._invalid(inbound)
        if problem is not None:
            return [Reply(to=inbound.person.email, text=problem)] if problem else []
        try:
            outbox = self._handle_in_transaction(inbound)
        except _Duplicate:
            log.info("duplicate_event_ignored", event_id=inbound.event_id)
            return []
        except SQLAlchemyError as error:
            log.error("database_error", error=str(error).splitlines()[0])
            return [
                Reply(
                    to=inbound.person.email,
                    text=DATABASE_DOWN.format(contact=self.services.settings.helpdesk_contact),
                )
            ]
        except Exception:
            log.exception("handler_failed")
            return self._open_ticket_for_failure(inbound)
        for to, subject, body in outbox.emails:
            self.mailer.send(to, subject, body)
        return outbox.replies

    def _invalid(self, inbound: Inbound) -> str | None:
        """None when fine; "" to ignore silently (an empty line); else what to tell the person."""
        if inbound.action is not None:
            return None
        text = inbound.text.strip()
        if not text:
            return ""
        limit = self.services.settings.max_message_chars
        if len(text) > limit:
            return (
                f"That message is too long for me ({len(text):,} characters; I take up to {limit:,}). "
                "Please send a shorter description — a technician can ask for details or logs later."
            )
        if "\x00" in text:
            return "That message contains characters I can't read. Please type it again."
        return None

    def _handle_in_transaction(self, inbound: Inbound) -> Outbox:
        with self.sessions.begin() as session:
            self._claim_event(session, inbound)
            speaker = people.identify(self.services, inbound.person)
            logs.bind(known=speaker.known)
            state = conversations.load(
                session, speaker.email, self.services.settings.conversation_timeout_minutes
            )
            ctx = Context(
                session=session, speaker=speaker, state=state, services=self.services, inbound=inbound
            )
            if state.flow:
                logs.bind(flow=state.flow, step=state.step)
            router.dispatch(ctx)
            conversations.save(session, speaker.email, ctx.state)
            log.info("event_handled", action=inbound.action, replies=len(ctx.outbox.replies))
            return ctx.outbox

    @staticmethod
    def _claim_event(session: Session, inbound: Inbound) -> None:
        if not inbound.event_id:
            return
        try:
            with session.begin_nested():
                session.add(ProcessedEvent(event_id=inbound.event_id[:200], at=now()))
        except IntegrityError:
            raise _Duplicate() from None

    def _open_ticket_for_failure(self, inbound: Inbound) -> list[Reply]:
        """Something broke while handling the request: keep it as a ticket rather than lose it."""
        what = inbound.text.strip() or f"(pressed button {inbound.action})"
        try:
            with self.sessions.begin() as session:
                speaker = people.identify(self.services, inbound.person)
                ctx = Context(
                    session=session, speaker=speaker, state=State(), services=self.services, inbound=inbound
                )
                ticket = tickets.open_ticket(
                    ctx,
                    problem=what,
                    urgent=False,
                    category="bot_error",
                    transcript="The bot failed while handling this message.",
                )
                replies = [r for r in ctx.outbox.replies if r.to != speaker.email]
        except Exception:
            log.exception("failure_ticket_failed")
            return [
                Reply(
                    to=inbound.person.email,
                    text="Something went wrong on my side and I couldn't save "
                    f"your request. Please contact {self.services.settings.helpdesk_contact}.",
                )
            ]
        return [
            Reply(
                to=inbound.person.email,
                ticket=ticket.id,
                text=f"Something went wrong on my side while handling that. I've opened ticket "
                f"#{ticket.id} with your message so a technician can follow up.",
            ),
            *replies,
        ]


class _Duplicate(Exception):
    """The event id was handled before (a retried delivery)."""
