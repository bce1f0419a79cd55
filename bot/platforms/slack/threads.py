"""Slack's ticket threads: the shared outbox lookup (bot/delivery/threads.py) on Slack's `{channel, ts}`.

Also which channel threads are conversations: a thread the bot has answered someone in (a row whose
payload's `place` is that thread) takes that person's follow-ups without a new @mention."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.delivery.threads import TicketThreads
from bot.store.models import OutboxMessage

PLATFORM = "slack"


def place_of(channel: str, thread_ts: str) -> str:
    """A channel thread as the core's opaque `Inbound.place` / `Reply.place`."""
    return f"{channel}:{thread_ts}"


def parse_place(place: str) -> tuple[str, str] | None:
    """(channel, thread_ts) of a place made by `place_of`; None for anything else."""
    channel, _, thread_ts = place.partition(":")
    return (channel, thread_ts) if channel and thread_ts else None


class SlackThreads(TicketThreads):
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


def slack_threads(sessions: sessionmaker[Session]) -> SlackThreads:
    return SlackThreads(sessions, PLATFORM, place="channel", message="ts")
