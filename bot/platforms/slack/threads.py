"""Slack's ticket threads: the shared outbox lookup (bot/delivery/threads.py) on Slack's `{channel, ts}`."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from bot.delivery.threads import TicketThreads

PLATFORM = "slack"


def slack_threads(sessions: sessionmaker[Session]) -> TicketThreads:
    return TicketThreads(sessions, PLATFORM, place="channel", message="ts")
