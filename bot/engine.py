"""The pipeline every inbound event goes through, whatever platform it came from.

    validate → (one transaction: dedupe the event id → identify the speaker → load their conversation
    → route to a handler → tidy flows the person left → save the conversation) → send emails
    → run the deferred effects, each in a transaction of its own → return all the replies

Nothing reaches a person before the transaction commits, so a crash never announces a change that did
not happen, and a retried delivery (same event id) acts once. Changes outside the database (a password
reset, a code email) are never made inside that transaction: the handler records the intent and defers
the act (`ctx.after_commit`), so a failed commit cannot hide a reset that happened or repeat it on retry.
Failures become plain replies: the database being down says so; anything unexpected opens a ticket so
the request is not lost.
"""

from __future__ import annotations

import re
import uuid

import structlog
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot import logs
from bot.clock import now
from bot.mail import Mailer
from bot.messages import Effect, Inbound, Outbox, Reply
from bot.store.models import ProcessedEvent
from handlers import conversations, people, registry, router, tickets
from handlers.context import Context, Services, Speaker, State

log = structlog.get_logger(__name__)

DATABASE_DOWN = (
    "I can't reach my database right now, so I couldn't do that and nothing was changed. "
    "Please try again in a few minutes; if it's urgent, contact {contact}."
)
EFFECT_FAILED = (
    "Something went wrong on my side before I could finish that. Please try again in a few minutes; "
    "if it's urgent, contact {contact}."
)
# Platforms cap their button ids far below this (Slack: 255); a longer one is forged or broken.
MAX_BUTTON_ID_CHARS = 256
UNKNOWN_BUTTON = "I don't know that button; it may be from an older version of me. What do you need?"
# Lone surrogates: bytes that were not valid UTF-8, kept by a platform that read them with surrogateescape.
_UNDECODABLE = re.compile("[\ud800-\udfff]")
# Effects may defer further effects (claim a request, then act on it); this bounds a runaway chain.
MAX_EFFECTS = 8


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
            outbox, speaker = self._handle_in_transaction(inbound)
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
        self._send_emails(outbox)
        return [*outbox.replies, *self._run_effects(inbound, speaker, outbox.effects)]

    def _send_emails(self, outbox: Outbox) -> None:
        for to, subject, body in outbox.emails:
            self.mailer.send(to, subject, body)

    def _invalid(self, inbound: Inbound) -> str | None:
        """None when fine; "" to ignore silently (an empty line); else what to tell the person."""
        if inbound.action is not None:
            return UNKNOWN_BUTTON if len(inbound.action) > MAX_BUTTON_ID_CHARS else None
        text = inbound.text.strip()
        if not text:
            return ""
        limit = self.services.settings.max_message_chars
        if len(text) > limit:
            return (
                f"That message is too long for me ({len(text):,} characters; I take up to {limit:,}). "
                "Please send a shorter description — a technician can ask for details or logs later."
            )
        if "\x00" in text or _UNDECODABLE.search(text):
            return "That message contains characters I can't read. Please type it again."
        return None

    def _handle_in_transaction(self, inbound: Inbound) -> tuple[Outbox, Speaker]:
        with self.sessions.begin() as session:
            self._claim_event(session, inbound)
            speaker = people.identify(self.services, inbound.person)
            logs.bind(known=speaker.known)
            ctx = self._context(session, inbound, speaker, Outbox())
            if ctx.state.flow:
                logs.bind(flow=ctx.state.flow, step=ctx.state.step)
            router.dispatch(ctx)
            self._finish(ctx)
            log.info("event_handled", action=inbound.action, replies=len(ctx.outbox.replies))
            return ctx.outbox, speaker

    def _context(self, session: Session, inbound: Inbound, speaker: Speaker, outbox: Outbox) -> Context:
        state = conversations.load(
            session, speaker.email, self.services.settings.conversation_timeout_minutes
        )
        return Context(
            session=session,
            speaker=speaker,
            state=state,
            services=self.services,
            inbound=inbound,
            outbox=outbox,
            mailer=self.mailer,
        )

    @staticmethod
    def _finish(ctx: Context) -> None:
        """Tidy the flows the person left (cancel, another flow, timeout), then save where they are now."""
        for flow, data in ctx.state.ended:
            hook = registry.end_handler(flow)
            if hook is not None:
                hook(ctx, data)
        ctx.state.ended.clear()
        conversations.save(ctx.session, ctx.speaker.email, ctx.state)

    # --- deferred effects ---------------------------------------------------------------------------

    def _run_effects(self, inbound: Inbound, speaker: Speaker, effects: list[Effect]) -> list[Reply]:
        """Each effect in its own transaction, after the event's commit; what they say joins the replies."""
        replies: list[Reply] = []
        queue = list(effects)
        for _ in range(MAX_EFFECTS):
            if not queue:
                return replies
            outbox = self._run_effect(inbound, speaker, queue.pop(0))
            self._send_emails(outbox)
            replies += outbox.replies
            queue += outbox.effects
        if queue:
            log.error("effects_dropped", count=len(queue), detail="an effect chain did not end")
        return replies

    def _run_effect(self, inbound: Inbound, speaker: Speaker, effect: Effect) -> Outbox:
        outbox = Outbox()
        try:
            with self.sessions.begin() as session:
                ctx = self._context(session, inbound, speaker, outbox)
                effect(ctx)
                self._finish(ctx)
        except Exception as error:
            return self._effect_failed(speaker, effect, outbox, error)
        return outbox

    def _effect_failed(self, speaker: Speaker, effect: Effect, outbox: Outbox, error: Exception) -> Outbox:
        name = getattr(effect, "__qualname__", type(effect).__name__)
        if outbox.done_outside:
            # The change outside happened (a password was reset): its record is lost, but the person must
            # still get what it produced — the temporary password — and the log keeps the audit entries.
            for entry in outbox.done_outside:
                log.error("audit_not_recorded", effect=name, audit=entry)
            self._log_failure("effect_not_recorded", name, error)
            return Outbox(replies=outbox.replies, emails=outbox.emails)
        self._log_failure("effect_failed", name, error)
        text = DATABASE_DOWN if isinstance(error, SQLAlchemyError) else EFFECT_FAILED
        return Outbox(
            replies=[
                Reply(to=speaker.email, text=text.format(contact=self.services.settings.helpdesk_contact))
            ]
        )

    @staticmethod
    def _log_failure(event: str, effect: str, error: Exception) -> None:
        if isinstance(error, SQLAlchemyError):  # a database outage: its first line says it all
            log.error(event, effect=effect, error=str(error).splitlines()[0])
        else:
            log.exception(event, effect=effect)

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
