"""Which ticket a triage thread belongs to, and back: read from the outbox, where the card's row keeps the
reference the platform gave it (`message_ref`) under the topic `ticket:N`. No table of its own.

The same for every chat platform; only the names in the reference differ: Slack's card is
`{channel, ts}`, Teams' is `{conversation, activity}`. The outbox row of a message also keeps what it said,
which the Teams adapter re-renders when a card is pressed (`reply_of`).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.delivery import payloads
from bot.messages import Reply
from bot.store.models import OutboxMessage

TOPIC_PREFIX = "ticket:"


class TicketThreads:
    def __init__(self, sessions: sessionmaker[Session], platform: str, *, place: str, message: str) -> None:
        self.sessions = sessions
        self.platform = platform
        self.place = place  # the reference's key naming where the card is (Slack's channel)
        self.message = message  # the reference's key naming the card itself (Slack's ts)

    def card_of(self, ticket_id: int) -> str | None:
        """The id of ticket `ticket_id`'s card in triage (its thread), None when it was never posted."""
        statement = (
            select(OutboxMessage.message_ref)
            .where(
                OutboxMessage.platform == self.platform,
                OutboxMessage.topic == f"{TOPIC_PREFIX}{ticket_id}",
                OutboxMessage.kind == "send",
                OutboxMessage.status == "delivered",
            )
            .order_by(OutboxMessage.id.desc())
            .limit(1)
        )
        with self.sessions() as session:
            ref = session.scalar(statement)
        return str(ref[self.message]) if ref and ref.get(self.message) else None

    def ticket_of(self, place: str, thread: str) -> int | None:
        """The ticket whose card started the thread `thread` in `place`, None for any other thread."""
        statement = (
            select(OutboxMessage.topic, OutboxMessage.message_ref)
            .where(
                OutboxMessage.platform == self.platform,
                OutboxMessage.topic.startswith(TOPIC_PREFIX),
                OutboxMessage.kind == "send",
                OutboxMessage.message_ref[self.message].as_string() == thread,
            )
            .order_by(OutboxMessage.id.desc())
        )
        with self.sessions() as session:
            for topic, ref in session.execute(statement):
                if ref and ref.get(self.place) == place:
                    number = topic.removeprefix(TOPIC_PREFIX)
                    return int(number) if number.isdigit() else None
        return None

    def reply_of(self, place: str, message: str) -> Reply | None:
        """What the bot said in the message `message` in `place` (as it was last sent or updated)."""
        statement = (
            select(OutboxMessage.payload, OutboxMessage.message_ref)
            .where(
                OutboxMessage.platform == self.platform,
                OutboxMessage.status == "delivered",
                OutboxMessage.message_ref[self.message].as_string() == message,
            )
            .order_by(OutboxMessage.id.desc())
        )
        with self.sessions() as session:
            for payload, ref in session.execute(statement):
                if ref and ref.get(self.place) == place and payload:
                    loaded = payloads.load(payload)
                    return loaded if isinstance(loaded, Reply) else None
        return None


def last_reply_to(sessions: sessionmaker[Session], platform: str, recipient: str) -> Reply | None:
    """What the bot last delivered to `recipient` on `platform` — a terminal started again shows its
    buttons as they were, so "2" still presses the second one after a restart mid-conversation."""
    statement = (
        select(OutboxMessage.payload)
        .where(
            OutboxMessage.platform == platform,
            OutboxMessage.recipient == recipient,
            OutboxMessage.status == "delivered",
            OutboxMessage.kind.in_(("send", "update")),
        )
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    )
    with sessions() as session:
        payload = session.scalar(statement)
    loaded = payloads.load(payload) if payload else None
    return loaded if isinstance(loaded, Reply) else None
