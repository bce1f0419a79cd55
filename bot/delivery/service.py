"""The delivery port as the engine uses it: write what a unit of work said as outbox rows inside its
transaction (`enqueue`), then, once committed, let it out (`release`).

Release delivers to the inline platforms (console, tests) at once and in order, delivers secrets from
memory — after the rows before them to the same person, so order holds — and wakes the background
dispatcher for everything else (chat APIs, email), so a slow server never stalls a conversation.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import structlog
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import now
from bot.delivery import payloads
from bot.delivery.dispatcher import Dispatcher, RetryPolicy
from bot.delivery.port import Deliverer, Email, MessageRef, Payload
from bot.delivery.routes import EMAIL, Route, Routes
from bot.messages import Outbox, Reply
from bot.store.db import without_pre_ping
from bot.store.models import OutboxMessage

log = structlog.get_logger(__name__)


@dataclass
class _Item:
    reply: Reply | None  # what a chat recipient was told (None for an email)
    row_id: int | None = None  # its outbox row; None for a secret (delivered from memory) or unroutable
    route: Route | None = None
    inline: bool = False


@dataclass
class Batch:
    """What one committed unit of work said, in order."""

    items: list[_Item] = field(default_factory=list)

    @property
    def replies(self) -> list[Reply]:
        return [item.reply for item in self.items if item.reply is not None]


@dataclass(frozen=True)
class UndeliveredSecret:
    reply: Reply
    reason: str
    platform: str  # where it should have gone


class Delivery:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        chat: Sequence[Deliverer],
        email: Deliverer | None,
        policy: RetryPolicy,
        triage_channel: str,
    ) -> None:
        self.sessions = sessions
        self.routes = Routes(chat, email)
        deliverers = {d.platform: d for d in chat}
        if email is not None:
            deliverers[EMAIL] = email
        self.deliverers = deliverers
        # The dispatcher's transactions are the latency every message waits for: no ping before each.
        self.dispatcher = Dispatcher(
            without_pre_ping(sessions), deliverers, policy, self.routes, triage_channel=triage_channel
        )
        self._wake: Callable[[], None] = lambda: None

    def on_wake(self, wake: Callable[[], None]) -> None:
        """What to call when rows for the background dispatcher were committed (the scheduler's nudge)."""
        self._wake = wake

    # --- inside the transaction -------------------------------------------------------------------------

    def enqueue(self, session: Session, outbox: Outbox, key: str, prefer: str = "") -> Batch:
        """Rows for everything `outbox` says (never a secret), in the caller's transaction."""
        batch = Batch()
        position = 0
        for reply in outbox.replies:
            route = self.routes.resolve(session, reply.to, prefer)
            if reply.secret is not None:
                batch.items.append(_Item(reply, route=route, inline=self._inline(route)))
                continue
            row = self._row(session, route, reply, f"{key}:{position}", reply.to)
            position += 1
            batch.items.append(_Item(reply, row.id if row else None, route, self._inline(route)))
        for to, subject, body in outbox.emails:
            route = self.routes.email_route(to)
            if route is None:
                continue
            row = self._row(session, route, Email(to, subject, body), f"{key}:{position}", to)
            position += 1
            batch.items.append(_Item(None, row.id if row else None, route))
        return batch

    def _row(
        self, session: Session, route: Route | None, payload: Payload, key: str, recipient: str
    ) -> OutboxMessage | None:
        if route is None:
            log.warning("undeliverable", recipient=recipient, detail="no platform or email reaches them")
            return None
        reply = payload if isinstance(payload, Reply) else None
        row = OutboxMessage(
            idempotency_key=key[:200],
            platform=route.platform,
            recipient=recipient[:320],
            address=route.address,
            fallback=route.fallback,
            kind="update" if reply is not None and reply.update else "send",
            topic=(reply.topic if reply is not None else "")[:120],
            payload=payloads.dump(_for_route(payload, route)),
            next_attempt_at=now(),
            created_at=now(),
        )
        session.add(row)
        session.flush()
        return row

    def _inline(self, route: Route | None) -> bool:
        return route is not None and getattr(self.deliverers.get(route.platform), "inline", False)

    # --- after the commit -------------------------------------------------------------------------------

    def release(self, batch: Batch) -> list[UndeliveredSecret]:
        """Let a committed batch out; returns the secrets that could not be delivered."""
        undelivered: list[UndeliveredSecret] = []
        background = False
        for index, item in enumerate(batch.items):
            if item.reply is not None and item.reply.secret is not None:
                self._flush_before(batch, index, item.reply.to)
                problem = self._deliver_secret(item)
                if problem:
                    platform = item.route.platform if item.route else ""
                    undelivered.append(UndeliveredSecret(item.reply, problem, platform))
            elif item.row_id is not None and item.inline:
                self.dispatcher.deliver_now([item.row_id])
            elif item.row_id is not None:
                background = True
        if background:
            self._wake()
        return undelivered

    def _flush_before(self, batch: Batch, index: int, recipient: str) -> None:
        earlier = [
            item.row_id
            for item in batch.items[:index]
            if item.row_id is not None and item.reply is not None and item.reply.to == recipient
        ]
        self.dispatcher.deliver_now(earlier)

    def _deliver_secret(self, item: _Item) -> str:
        """Send the secret's message from memory, then schedule its deletion; "" or why it failed."""
        assert item.reply is not None
        route = item.route
        if route is None or route.platform == EMAIL:
            return "no chat platform reaches the person (a password is never emailed)"
        deliverer = self.deliverers[route.platform]
        try:
            ref = deliverer.send(route.address, item.reply)
        except Exception as error:
            log.warning("secret_undelivered", platform=route.platform, error=type(error).__name__)
            return f"{route.platform} did not take the message"
        self._schedule_deletion(route, item.reply, ref)
        return ""

    def _schedule_deletion(self, route: Route, reply: Reply, ref: MessageRef) -> None:
        after = reply.delete_after or 0
        if not after or not ref:
            return
        try:
            with self.sessions.begin() as session:
                session.add(
                    OutboxMessage(
                        idempotency_key=f"delete:{uuid.uuid4().hex}",
                        platform=route.platform,
                        recipient=reply.to,
                        address=route.address,
                        kind="delete",
                        topic="secret",
                        payload={"type": "delete"},
                        message_ref=ref,
                        next_attempt_at=now() + timedelta(seconds=after),
                        created_at=now(),
                    )
                )
        except Exception as error:  # the database went away: the message stays, and that is logged
            log.error("secret_deletion_not_scheduled", platform=route.platform, error=type(error).__name__)

    def say_directly(self, reply: Reply, platform: str) -> Reply:
        """When no row can be written (the database is down) or none is needed (a reply that changes
        nothing): best effort, straight to the platform the person wrote from."""
        deliverer = self.deliverers.get(platform)
        if deliverer is not None:
            address = deliverer.route(reply.to, None)
            if address is not None:
                try:
                    deliverer.send(address, reply)
                except Exception as error:
                    log.error("direct_delivery_failed", platform=platform, error=type(error).__name__)
        return reply


def _for_route(payload: Payload, route: Route) -> Payload:
    """A chat reply that falls back to email becomes an email saying the same."""
    if route.platform != EMAIL or isinstance(payload, Email):
        return payload
    return Email(route.address["email"], *email_of(payload), attachment=payload.attachment)


def email_of(reply: Reply) -> tuple[str, str]:
    """(subject, body) of the email that carries a chat message to someone chat does not reach."""
    subject = f"[frontdesk #{reply.ticket}] Update" if reply.ticket else "A message from the IT service desk"
    lines = [reply.text]
    if reply.card is not None:
        lines += ["", reply.card.title, *(f"{label}: {value}" for label, value in reply.card.fields)]
    if reply.buttons:
        lines += ["", "Choices (answer in chat): " + " · ".join(b.label for b in reply.buttons)]
    return subject, "\n".join(lines)
