"""Conversation state in the database: load it for an event, save it after, reach another person's.

Besides the flow, a conversation keeps its last few turns (`State.recent`, stored under a reserved key of
the row's data) so that a ticket opened from it carries what was said — minus anything secret — about its
problem only: a problem that ends (a ticket opened for it, an answer confirmed) ends the topic
(`end_topic`), and the transcript holds the turns since.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import redact
from bot.clock import now
from bot.messages import Button, Reply, shorten
from bot.store.models import Conversation
from handlers.context import State

RECENT_KEY = "_recent"
RECENT_TURNS = 8
TURN_CHARS = 300
NOT_KEPT = "(not kept: it may contain a password or a code)"
_TOPIC = "topic"  # a marker among the turns: what follows it is about the current problem
_LOADED = "conversations"  # session.info key: the rows `load` read, by email


def load(session: Session, email: str, timeout_minutes: int) -> State:
    """`email`'s state (a row is begun for a newcomer, so the conversation has an id for the logs)."""
    row = _row(session, email)
    if row is None:
        row = _new_row(session, email)
        session.flush()
    session.info.setdefault(_LOADED, {})[email] = row
    data = dict(row.data or {})
    recent = data.pop(RECENT_KEY, [])
    state = State(
        flow=row.flow,
        step=row.step,
        data=data,
        thread_ticket_id=row.thread_ticket_id,
        recent=list(recent) if isinstance(recent, list) else [],
        conversation_id=row.id,
    )
    if state.flow and now() - row.updated_at > timedelta(minutes=timeout_minutes):
        state.end()  # a flow abandoned long ago must not swallow today's message
    return state


def save(session: Session, email: str, state: State) -> None:
    row = _loaded(session, email) or _row(session, email) or _new_row(session, email)
    row.flow, row.step = state.flow, state.step
    row.data = {**state.data, RECENT_KEY: state.recent[-RECENT_TURNS:]}
    row.thread_ticket_id = state.thread_ticket_id
    row.updated_at = now()


def follow_ticket(session: Session, email: str, ticket_id: int) -> int | None:
    """Relay `email`'s next plain messages to `ticket_id` (a technician is talking with them); return the
    ticket they followed before.

    Only the thread changes: their flow and its age stay as they are, so a flow they abandoned still
    times out.
    """
    row = _row(session, email) or _new_row(session, email)
    before, row.thread_ticket_id = row.thread_ticket_id, ticket_id
    return before


def unfollow_ticket(session: Session, email: str, ticket_id: int) -> None:
    """Stop relaying `email`'s messages to `ticket_id` (resolved or closed); another thread stays."""
    row = _row(session, email)
    if row is not None and row.thread_ticket_id == ticket_id:
        row.thread_ticket_id = None


# ---------------------------------------------------------------- the last few turns


def remember(
    state: State, who: str, text: str, *, secret: bool = False, choices: Sequence[Button] = ()
) -> None:
    """Keep one turn for a later ticket's transcript; a secret one is kept only as a placeholder."""
    text = " ".join(text.split())
    if not text:
        return
    if secret or looks_secret(text):
        text = NOT_KEPT
    else:
        text = shorten(text, TURN_CHARS)
    offered = [{"id": button.id, "label": button.label} for button in choices]
    turn: dict[str, Any] = {"who": who, "text": text} | ({"choices": offered} if offered else {})
    state.recent = [*state.recent, turn][-RECENT_TURNS:]


def end_topic(state: State) -> None:
    """The problem of this conversation is dealt with: once this event's turns are remembered, a later
    ticket's transcript starts after them (handlers.router calls `begin_topic`)."""
    state.topic_ended = True


def begin_topic(state: State) -> None:
    """What is said from now on is about a new problem: a later ticket's transcript starts here."""
    state.topic_ended = False
    state.recent = [turn for turn in state.recent if not turn.get(_TOPIC)] + [{_TOPIC: True}]
    state.recent = state.recent[-RECENT_TURNS:]


def remember_replies(state: State, replies: list[Reply]) -> None:
    for reply in replies:
        # A reply carrying a temporary password keeps it in `secret` and usually in its text too.
        remember(state, "bot", reply.text, secret=reply.secret is not None, choices=reply.buttons)


def pressed_label(state: State, button_id: str) -> str:
    """The label of a button the person pressed, as they saw it in one of the last replies ("" if gone)."""
    for turn in reversed(state.recent):
        for choice in _choices(turn):
            if choice.get("id") == button_id:
                return str(choice.get("label", ""))
    return ""


def looks_secret(text: str) -> bool:
    """Whether a message may hold a password or a verification code (erring on the side of not keeping)."""
    return redact.looks_secret(text)


def transcript(state: State) -> str:
    """The turns about the current problem (since the last `end_topic`) as lines a technician can read."""
    lines = []
    for turn in _since_topic(state.recent):
        labels = [str(choice.get("label", "")) for choice in _choices(turn)]
        offered = f" [{' / '.join(labels)}]" if labels else ""
        lines.append(f"{turn.get('who', '?')}: {turn.get('text', '')}{offered}")
    return "\n".join(lines)


def _since_topic(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    starts = [index for index, turn in enumerate(turns) if turn.get(_TOPIC)]
    return turns[starts[-1] + 1 :] if starts else turns


def _choices(turn: dict[str, Any]) -> list[dict[str, Any]]:
    return list(turn.get("choices") or [])


def _row(session: Session, email: str) -> Conversation | None:
    return session.scalars(select(Conversation).where(Conversation.person_email == email)).first()


def _loaded(session: Session, email: str) -> Conversation | None:
    """The row `load` read in this transaction, without asking the database again (the session forgets
    an unchanged object nobody holds, so `load` keeps it in the session's own info)."""
    row = session.info.get(_LOADED, {}).get(email)
    return row if isinstance(row, Conversation) and row in session else None


def _new_row(session: Session, email: str) -> Conversation:
    row = Conversation(person_email=email, flow="", step="", data={}, updated_at=now())
    session.add(row)
    return row
