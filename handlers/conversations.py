"""Conversation state in the database: load it for an event, save it after, reach another person's."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clock import now
from bot.store.models import Conversation
from handlers.context import State


def load(session: Session, email: str, timeout_minutes: int) -> State:
    row = _row(session, email)
    if row is None:
        return State()
    state = State(
        flow=row.flow, step=row.step, data=dict(row.data or {}), thread_ticket_id=row.thread_ticket_id
    )
    if state.flow and now() - row.updated_at > timedelta(minutes=timeout_minutes):
        state.end()  # a flow abandoned long ago must not swallow today's message
    return state


def save(session: Session, email: str, state: State) -> None:
    row = _row(session, email)
    if row is None:
        row = Conversation(person_email=email, updated_at=now())
        session.add(row)
    row.flow, row.step, row.data = state.flow, state.step, dict(state.data)
    row.thread_ticket_id = state.thread_ticket_id
    row.updated_at = now()


def follow_ticket(session: Session, email: str, ticket_id: int) -> None:
    """Relay `email`'s next plain messages to `ticket_id` (a technician just wrote to them)."""
    state = load(session, email, timeout_minutes=10**6)
    state.thread_ticket_id = ticket_id
    save(session, email, state)


def _row(session: Session, email: str) -> Conversation | None:
    return session.scalars(select(Conversation).where(Conversation.person_email == email)).first()
