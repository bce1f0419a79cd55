"""Which ticket a triage thread belongs to, and back: read from the outbox, where the card's row keeps
the channel and ts Slack gave it (`message_ref`) under the topic `ticket:N`. No table of its own.

Also which channel threads are conversations: a thread the bot has answered someone in (a row whose
payload's `place` is that thread) takes that person's follow-ups without a new @mention."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.store.models import OutboxMessage

PLATFORM = "slack"
TOPIC_PREFIX = "ticket:"


def place_of(channel: str, thread_ts: str) -> str:
    """A channel thread as the core's opaque `Inbound.place` / `Reply.place`."""
    return f"{channel}:{thread_ts}"


def parse_place(place: str) -> tuple[str, str] | None:
    """(channel, thread_ts) of a place made by `place_of`; None for anything else."""
    channel, _, thread_ts = place.partition(":")
    return (channel, thread_ts) if channel and thread_ts else None


class TicketThreads:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def card_ts(self, ticket_id: int) -> str | None:
        """The ts of ticket `ticket_id`'s card in triage (its thread), None when it was never posted."""
        statement = (
            select(OutboxMessage.message_ref)
            .where(
                OutboxMessage.platform == PLATFORM,
                OutboxMessage.topic == f"{TOPIC_PREFIX}{ticket_id}",
                OutboxMessage.kind == "send",
                OutboxMessage.status == "delivered",
            )
            .order_by(OutboxMessage.id.desc())
            .limit(1)
        )
        with self.sessions() as session:
            ref = session.scalar(statement)
        return str(ref["ts"]) if ref and ref.get("ts") else None

    def ticket_of(self, channel: str, thread_ts: str) -> int | None:
        """The ticket whose card started the thread `thread_ts` in `channel`, None for any other thread."""
        statement = (
            select(OutboxMessage.topic, OutboxMessage.message_ref)
            .where(
                OutboxMessage.platform == PLATFORM,
                OutboxMessage.topic.startswith(TOPIC_PREFIX),
                OutboxMessage.kind == "send",
                OutboxMessage.message_ref["ts"].as_string() == thread_ts,
            )
            .order_by(OutboxMessage.id.desc())
        )
        with self.sessions() as session:
            for topic, ref in session.execute(statement):
                if ref and ref.get("channel") == channel:
                    number = topic.removeprefix(TOPIC_PREFIX)
                    return int(number) if number.isdigit() else None
        return None

    def is_conversation(self, channel: str, thread_ts: str, email: str) -> bool:
        """Whether the bot has answered `email` in the thread `thread_ts` of `channel`."""
        statement = (
            select(OutboxMessage.id)
            .where(
                OutboxMessage.platform == PLATFORM,
                OutboxMessage.recipient == email,
                OutboxMessage.payload["place"].as_string() == place_of(channel, thread_ts),
            )
            .limit(1)
        )
        with self.sessions() as session:
            return session.scalar(statement) is not None
