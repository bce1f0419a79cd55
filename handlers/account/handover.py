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


def ticket_for(
    ctx: Context,
    request: ResetRequest,
    reason: str,
    owner: DirectoryPerson | None,
    *,
    directory_down: bool = False,
) -> int:
    """A ticket for the account's owner — whoever is speaking (the approving manager, too)."""
    what = noun(request.kind)
    problem = f"{what.capitalize()} for {request.person_email} could not be done by the bot."
    # Intent only, never the person's words: they may contain a password.
    transcript = f"Asked in chat for a {what}. Bot stopped because: {reason}."
    if ctx.speaker.email != request.person_email:  # a manager approved: the ticket is still the owner's
        transcript += f" (Approved by {ctx.speaker.email}.)"
    ticket = tickets.open_ticket(
        ctx,
        problem=problem,
        urgent=True,
        category=request.kind,
        transcript=transcript,
        requester=_owner(ctx, request, owner, directory_down),
    )
    return ticket.id


def _owner(
    ctx: Context, request: ResetRequest, owner: DirectoryPerson | None, directory_down: bool
) -> tickets.Requester | None:
    """The owner as the ticket's requester; None when the owner is speaking (the usual ticket)."""
    if ctx.speaker.email == request.person_email:
        return None
    status = "found" if owner else "unavailable" if directory_down else "not_found"
    return tickets.Requester(
        request.person_email, owner.name if owner else request.person_email, owner, status
    )
