"""The pipeline every inbound event and every scheduled job goes through, whatever platform it came from.

    validate → (one transaction: dedupe the event id → refresh the person's platform identity → identify
    the speaker → load their conversation → route to a handler → tidy flows the person left → save the
    conversation → write what it said as outbox rows) → release the rows (bot/delivery) → run the deferred
    effects, each the same way in a transaction of its own

Nothing reaches a person before the transaction commits, so a crash never announces a change that did not
happen, and a crash after the commit loses nothing: the rows are delivered when the process is back. A
retried delivery (same event id) acts once. Changes outside the database (a password reset, a code email)
are never made inside that transaction: the handler records the intent and defers the act
(`ctx.after_commit`), so a failed commit cannot hide a reset that happened or repeat it on retry. Failures
become plain replies: the database being down says so; anything unexpected opens a ticket so the request
is not lost. A scheduled job (`run_job`) is the same unit of work with the system actor instead of a
speaker.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Callable

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot import logs
from bot.clock import now
from bot.delivery import identities
from bot.delivery.service import Batch, Delivery, UndeliveredSecret
from bot.mail import Mailer
from bot.messages import Effect, Inbound, Outbox, Person, Reply
from bot.store.models import ProcessedEvent
from handlers import conversations, home, people, router, tickets, undelivered
from handlers.context import SYSTEM, Context, Services, Speaker, State

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
Job = Callable[[Context], None]


class Bot:
    def __init__(
        self, services: Services, sessions: sessionmaker[Session], delivery: Delivery, mailer: Mailer
    ) -> None:
        self.services = services
        self.sessions = sessions
        self.delivery = delivery
        self.mailer = mailer

    # --- an inbound event -------------------------------------------------------------------------------

    def handle(self, inbound: Inbound) -> list[Reply]:
        """Handle one event; returns what it said, in order (already on its way to each recipient)."""
        logs.clear()
        key = inbound.event_id or uuid.uuid4().hex
        logs.bind(person=inbound.person.email, platform=inbound.person.platform, event=key[:40])
        problem = self._invalid(inbound)
        if problem is not None:
            return [self._say_directly(inbound, problem)] if problem else []
        try:
            batch, speaker, effects = self._handle_in_transaction(inbound, key)
        except _Duplicate:
            log.info("duplicate_event_ignored", event_id=inbound.event_id)
            return []
        except SQLAlchemyError as error:
            log.error("database_error", error=str(error).splitlines()[0])
            return [self._say_directly(inbound, DATABASE_DOWN.format(contact=self._contact))]
        except Exception:
            log.exception("handler_failed")
            return self._open_ticket_for_failure(inbound, key)
        said = self._release(batch)
        return said + self._run_effects(inbound, speaker, effects, key)

    @property
    def _contact(self) -> str:
        return self.services.settings.helpdesk_contact

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

    def _say_directly(self, inbound: Inbound, text: str) -> Reply:
        """A reply that changes nothing (bad input, the database down) needs no row: straight out."""
        return self.delivery.say_directly(Reply(to=inbound.person.email, text=text), inbound.person.platform)

    def _handle_in_transaction(self, inbound: Inbound, key: str) -> tuple[Batch, Speaker, list[Effect]]:
        with self.sessions.begin() as session:
            self._claim_event(session, inbound)
            identities.refresh(session, inbound.person)
            speaker = people.identify(self.services, inbound.person)
            logs.bind(known=speaker.known)
            ctx = self._context(session, inbound, speaker, Outbox())
            if ctx.state.flow:
                logs.bind(flow=ctx.state.flow, step=ctx.state.step)
            router.dispatch(ctx)
            self._finish(ctx)
            batch = self.delivery.enqueue(session, ctx.outbox, key, inbound.person.platform)
            log.info("event_handled", action=inbound.action, replies=len(ctx.outbox.replies))
            return batch, speaker, ctx.outbox.effects

    def _context(
        self, session: Session, inbound: Inbound | None, speaker: Speaker, outbox: Outbox
    ) -> Context:
        if speaker.is_system:
            state = State()  # a job has no conversation of its own
        else:
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
            hook = ctx.services.registry.end_handler(flow)
            if hook is not None:
                hook(ctx, data)
        ctx.state.ended.clear()
        home.mark_changed(ctx)  # the home pages of whoever was told something are redrawn soon
        if not ctx.speaker.is_system:
            conversations.save(ctx.session, ctx.speaker.email, ctx.state)

    @staticmethod
    def _claim_event(session: Session, inbound: Inbound) -> None:
        """Record the event id, or stop if it was handled before: one INSERT … ON CONFLICT DO NOTHING
        (a concurrent retry of the same event waits for this transaction, then inserts nothing)."""
        if not inbound.event_id:
            return
        table = ProcessedEvent.__table__
        insert = identities.insert_for(session)(table).values(event_id=inbound.event_id[:200], at=now())
        if session.execute(insert.on_conflict_do_nothing().returning(table.c.event_id)).first() is None:
            raise _Duplicate()

    # --- a scheduled job --------------------------------------------------------------------------------

    def run_job(self, name: str, job: Job) -> list[Reply]:
        """Run `job(ctx)` as a unit of work of its own, with the system actor; returns what it said."""
        logs.clear()
        key = f"job:{name}:{uuid.uuid4().hex[:16]}"
        logs.bind(job=name)
        try:
            with self.sessions.begin() as session:
                ctx = self._context(session, None, SYSTEM, Outbox())
                job(ctx)
                self._finish(ctx)
                batch = self.delivery.enqueue(session, ctx.outbox, key)
                effects = ctx.outbox.effects
        except SQLAlchemyError as error:
            log.error("job_database_error", error=str(error).splitlines()[0])
            return []
        except Exception:
            log.exception("job_failed")
            return []
        return self._release(batch) + self._run_effects(None, SYSTEM, effects, key)

    # --- after the commit -------------------------------------------------------------------------------

    def _release(self, batch: Batch) -> list[Reply]:
        problems = self.delivery.release(batch)
        lost = [problem.reply for problem in problems]
        said = [reply for reply in batch.replies if reply not in lost]
        for problem in problems:
            said += self._secret_undelivered(problem)
        return said

    def _secret_undelivered(self, problem: UndeliveredSecret) -> list[Reply]:
        """The person must not be left without a password and without knowing it: tell them, and a
        technician, in a unit of work of its own."""
        person = Person(problem.platform or "unknown", problem.reply.to, problem.reply.to)
        try:
            with self.sessions.begin() as session:
                speaker = people.identify(self.services, person)
                ctx = self._context(session, None, speaker, Outbox())
                undelivered.secret_undelivered(ctx, problem.reply, problem.reason)
                batch = self.delivery.enqueue(session, ctx.outbox, f"undelivered:{uuid.uuid4().hex}")
        except Exception:
            log.exception("secret_undelivered_not_recorded", person=problem.reply.to)
            return []
        return self._release(batch)

    # --- deferred effects -------------------------------------------------------------------------------

    def _run_effects(
        self, inbound: Inbound | None, speaker: Speaker, effects: list[Effect], key: str = ""
    ) -> list[Reply]:
        """Each effect in its own transaction, after the event's commit; what they say joins the replies.
        An effect acts outside (a directory write, a code email): what it says is private, so it goes to
        the person's direct messages even when the event came from a shared thread (handlers/places.py)."""
        key = key or uuid.uuid4().hex
        inbound = dataclasses.replace(inbound, place="") if inbound is not None else None
        replies: list[Reply] = []
        queue = list(effects)
        for number in range(1, MAX_EFFECTS + 1):
            if not queue:
                return replies
            replies += self._run_effect(inbound, speaker, queue.pop(0), f"{key}:e{number}", queue)
        if queue:
            log.error("effects_dropped", count=len(queue), detail="an effect chain did not end")
        return replies

    def _run_effect(
        self, inbound: Inbound | None, speaker: Speaker, effect: Effect, key: str, queue: list[Effect]
    ) -> list[Reply]:
        outbox = Outbox()
        try:
            with self.sessions.begin() as session:
                ctx = self._context(session, inbound, speaker, outbox)
                effect(ctx)
                self._finish(ctx)
                batch = self.delivery.enqueue(session, outbox, key, speaker.platform)
        except Exception as error:
            return self._effect_failed(speaker, effect, outbox, error, key)
        queue += outbox.effects
        return self._release(batch)

    def _effect_failed(
        self, speaker: Speaker, effect: Effect, outbox: Outbox, error: Exception, key: str
    ) -> list[Reply]:
        name = getattr(effect, "__qualname__", type(effect).__name__)
        if outbox.done_outside:
            # The change outside happened (a password was reset): its record is lost, but the person must
            # still get what it produced — the temporary password — and the log keeps the audit entries.
            for entry in outbox.done_outside:
                log.error("audit_not_recorded", effect=name, audit=entry)
            self._log_failure("effect_not_recorded", name, error)
            return self._speak_unrecorded(Outbox(replies=outbox.replies, emails=outbox.emails), speaker, key)
        self._log_failure("effect_failed", name, error)
        text = DATABASE_DOWN if isinstance(error, SQLAlchemyError) else EFFECT_FAILED
        said = Outbox(replies=[Reply(to=speaker.email, text=text.format(contact=self._contact))])
        return self._speak_unrecorded(said, speaker, key)

    def _speak_unrecorded(self, outbox: Outbox, speaker: Speaker, key: str) -> list[Reply]:
        """Say what a failed unit of work must still say: through the outbox when the database takes
        the rows, else straight to the platform (the database is down)."""
        try:
            with self.sessions.begin() as session:
                batch = self.delivery.enqueue(session, outbox, key + ":failed", speaker.platform)
        except SQLAlchemyError:
            return [self.delivery.say_directly(reply, speaker.platform) for reply in outbox.replies]
        return self._release(batch)

    @staticmethod
    def _log_failure(event: str, effect: str, error: Exception) -> None:
        if isinstance(error, SQLAlchemyError):  # a database outage: its first line says it all
            log.error(event, effect=effect, error=str(error).splitlines()[0])
        else:
            log.exception(event, effect=effect)

    # --- when handling itself failed ----------------------------------------------------------------------

    def _open_ticket_for_failure(self, inbound: Inbound, key: str) -> list[Reply]:
        """Something broke while handling the request: keep it as a ticket rather than lose it."""
        what = inbound.text.strip() or f"(pressed button {inbound.action})"
        try:
            with self.sessions.begin() as session:
                speaker = people.identify(self.services, inbound.person)
                ctx = self._context(session, inbound, speaker, Outbox())
                ticket = tickets.open_ticket(
                    ctx,
                    problem=what,
                    urgent=False,
                    category="bot_error",
                    transcript="The bot failed while handling this message.",
                )
                ctx.outbox.replies = [r for r in ctx.outbox.replies if r.to != speaker.email]
                ctx.outbox.replies.insert(
                    0,
                    Reply(
                        to=speaker.email,
                        ticket=ticket.id,
                        text=f"Something went wrong on my side while handling that. I've opened ticket "
                        f"#{ticket.id} with your message so a technician can follow up.",
                    ),
                )
                batch = self.delivery.enqueue(session, ctx.outbox, key + ":failure", inbound.person.platform)
        except Exception:
            log.exception("failure_ticket_failed")
            return [
                self._say_directly(
                    inbound,
                    "Something went wrong on my side and I couldn't save "
                    f"your request. Please contact {self._contact}.",
                )
            ]
        return self._release(batch)


class _Duplicate(Exception):
    """The event id was handled before (a retried delivery)."""
