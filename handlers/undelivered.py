"""What happens when a secret (a temporary password) could not be delivered: it is never retried from
the database — it was never stored — so the person is told to ask again and a technician gets a ticket.
"""

from __future__ import annotations

from bot.messages import Reply
from handlers import audit, tickets
from handlers.context import Context


def secret_undelivered(ctx: Context, reply: Reply, reason: str) -> None:
    """`ctx.speaker` is the person the secret was for."""
    person = ctx.speaker.email
    audit.record(
        ctx.session,
        actor="frontdesk",
        action="secret_undelivered",
        target=person,
        result="undelivered",
        correlation_id=f"ticket-{reply.ticket}" if reply.ticket else "secret",
        reason=reason,
    )
    ticket = tickets.open_ticket(
        ctx,
        problem="A temporary password was set but its message could not be delivered to the person "
        f"({reason}). The old password no longer works; they were asked to request a new reset.",
        urgent=True,
        category="account",
    )
    ctx.reply(
        "I changed your password, but I couldn't deliver the temporary password to you here. "
        f"Please ask me for a password reset again to get a new one. Ticket #{ticket.id} is open in case "
        "that doesn't work.",
        ticket=ticket.id,
    )
