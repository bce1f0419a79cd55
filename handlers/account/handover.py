"""When automation cannot finish: a ticket for a technician, filed under the account's owner.

The person is refused in the same words whatever the reason, so the bot tells nobody which accounts exist
or are privileged; the reason goes to the audit log and to the technician's ticket.
"""

from __future__ import annotations

from automations.directory import DirectoryPerson
from bot.store.models import ResetRequest
from handlers import tickets
from handlers.account.records import close, noun, verb
from handlers.context import Context

REFUSAL = (
    "I can't {verb} this account automatically, so I've opened ticket #{ticket} for a technician, "
    "who will contact you."
)


def hand_over(
    ctx: Context, request: ResetRequest, reason: str, *, down: bool = False, status: str = "refused"
) -> None:
    """Refuse in the same words whatever the reason; the technician gets the reason in a ticket."""
    close(ctx, request, "failed" if down else status, "refused", "handed_over", reason=reason)
    ticket = ticket_for(ctx, request, reason, ctx.speaker.profile)
    request.ticket_id = ticket
    if down:
        ctx.reply(
            f"I can't reach the company directory right now, so I can't {verb(request.kind)} your "
            f"account. I've opened ticket #{ticket} so a technician can help.",
            ticket=ticket,
        )
    else:
        ctx.reply(REFUSAL.format(verb=verb(request.kind), ticket=ticket), ticket=ticket)


def ticket_for(ctx: Context, request: ResetRequest, reason: str, owner: DirectoryPerson | None) -> int:
    what = noun(request.kind)
    problem = f"{what.capitalize()} for {request.person_email} could not be done by the bot."
    # Intent only, never the person's words: they may contain a password.
    transcript = f"Asked in chat for a {what}. Bot stopped because: {reason}."
    if ctx.speaker.email != request.person_email:  # a manager approved: the ticket is still the owner's
        transcript += f" (Approved by {ctx.speaker.email}.)"
    ticket = tickets.open_ticket(
        ctx, problem=problem, urgent=True, category=request.kind, transcript=transcript
    )
    if ticket.requester_email != request.person_email:
        _reassign_requester(ticket, request.person_email, owner)
    return ticket.id


def _reassign_requester(ticket: tickets.Ticket, email: str, owner: DirectoryPerson | None) -> None:
    ticket.requester_email, ticket.requester_name = email, owner.name if owner else email
    ticket.requester_title = owner.title if owner else ""
    ticket.requester_department = owner.department if owner else ""
    ticket.requester_location = owner.location if owner else ""
    ticket.requester_manager = (owner.manager_email or "") if owner else ""
