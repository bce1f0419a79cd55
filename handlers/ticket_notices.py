"""Telling people about a ticket update: in chat and by email, each person once, never the person who
made the change. The lifecycle in `handlers/tickets.py` says who hears what; this module delivers it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.messages import Button, Card
from bot.redact import hide_secrets
from bot.store.models import Ticket
from handlers.context import Context


@dataclass(frozen=True)
class Notice:
    """What one person is told about a ticket update (`email` when the email should say it differently)."""

    to: str | None
    text: str
    buttons: Sequence[Button] = ()
    card: Card | None = None
    email: str = ""
    quoted: tuple[str, ...] = ()  # what people typed that the text carries (see bot.messages.Reply)


def notify(ctx: Context, ticket: Ticket, *notices: Notice) -> None:
    """Every ticket update reaches people through here: in chat and by email, each person once, never
    the person who made the change (they get the handler's own reply). Relayed words never carry what
    looks like a password, in chat or by email."""
    told = {ctx.speaker.email}
    for notice in notices:
        if not notice.to or notice.to in told:
            continue
        told.add(notice.to)
        text = hide_secrets(notice.text)
        ctx.send(notice.to, text, notice.buttons, card=notice.card, ticket=ticket.id, quoted=notice.quoted)
        ctx.email(notice.to, mail_subject(ticket), hide_secrets(notice.email) or text)


def to_requester(
    ticket: Ticket,
    text: str,
    buttons: Sequence[Button] = (),
    *,
    email: str = "",
    quoted: tuple[str, ...] = (),
) -> Notice:
    return Notice(ticket.requester_email, text, buttons, email=email, quoted=quoted)


def to_assignee(
    ticket: Ticket,
    text: str,
    buttons: Sequence[Button] = (),
    *,
    email: str = "",
    quoted: tuple[str, ...] = (),
) -> Notice:
    return Notice(ticket.assignee_email, text, buttons, email=email, quoted=quoted)


def to_both(ticket: Ticket, text: str, *, quoted: tuple[str, ...] = ()) -> tuple[Notice, Notice]:
    return to_requester(ticket, text, quoted=quoted), to_assignee(ticket, text, quoted=quoted)


def mail_subject(ticket: Ticket) -> str:
    """The subject of every email about a ticket; bot/mail.py threads them by its `[frontdesk #N]`."""
    # Hidden again: a ticket opened before subjects were screened must not email a password either.
    return f"[frontdesk #{ticket.id}] {hide_secrets(ticket.subject)}"
