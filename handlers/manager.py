"""The manager's side: the approvals waiting for them, and their team's open tickets.

A manager who is not a technician has no queue; what they need from the service desk is to decide on
their people's requests and to see what their team is waiting for.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from bot.clock import now
from bot.messages import Button
from bot.store.models import ResetRequest, Ticket
from handlers import digest_report, short_answers, ticket_views, tickets
from handlers.access import records as access_records
from handlers.account.approval import expire_approval
from handlers.account.records import noun
from handlers.context import Context

_APPROVALS = re.compile(
    r"^\s*((my |pending )?approvals( waiting( for me)?)?|what('s| is) waiting for me)\s*[?.!]*$", re.I
)
_TEAM_TICKETS = re.compile(r"^\s*(my )?team('s)? (open )?tickets\s*[?.!]*$", re.I)


def try_command(ctx: Context, text: str) -> bool:
    """Run `text` as a manager command; False when it is not one."""
    if _APPROVALS.match(text):
        show_approvals(ctx)
        return True
    if _TEAM_TICKETS.match(text):
        show_team_tickets(ctx)
        return True
    return digest_report.try_command(ctx, text)


def is_command(ctx: Context, text: str) -> bool:
    """Whether `text` is, word for word, one of the manager's commands."""
    if _APPROVALS.match(text) or _TEAM_TICKETS.match(text):
        return True
    return digest_report.asked_period(text, now(), ctx.settings.timezone) is not None


def show_approvals(ctx: Context) -> None:
    """Requests waiting for the speaker's approval, each with its buttons; expired ones are expired now."""
    lines, buttons = approvals_waiting_for(ctx, ctx.speaker.email)
    if not lines:
        ctx.reply("There is nothing waiting for your approval.")
        return
    ctx.reply(
        "Waiting for your approval (approve only once you've confirmed it's really them):\n"
        + "\n".join(f"• {line}" for line in lines),
        buttons,
    )


def answer_typed_decision(ctx: Context, text: str) -> bool:
    """A "yes" or "no" typed by someone with requests waiting for their decision: decisions are pressed,
    never inferred, so say so and show what is waiting, rather than a cheerful "OK!" that reads as done."""
    if short_answers.verdict(text) is None:
        return False
    lines, buttons = approvals_waiting_for(ctx, ctx.speaker.email)
    if not lines:
        return False
    ctx.reply(
        "I don't take a typed answer as a decision on someone's request; press Approve or Deny:\n"
        + "\n".join(f"• {line}" for line in lines),
        buttons,
    )
    return True


def approvals_waiting_for(ctx: Context, approver: str) -> tuple[list[str], list[Button]]:
    """A line and Approve/Deny buttons for each request waiting for `approver` (expired ones expire now)."""
    pending = ctx.session.scalars(
        select(ResetRequest)
        .where(ResetRequest.approver_email == approver, ResetRequest.status == "pending")
        .order_by(ResetRequest.created_at)
    )
    ttl = ctx.settings.approval_ttl_minutes
    waiting = [r for r in pending if not expire_approval(ctx.session, r, ttl_minutes=ttl)]
    access_waiting = access_records.awaiting_decision_by(ctx.session, approver)
    lines: list[str] = []
    buttons: list[Button] = []
    for request in waiting:
        name = ticket_views.display_name(ctx, request.person_email)
        lines.append(f"a {noun(request.kind)} for {name}, asked at {request.created_at:%H:%M} UTC")
        buttons += [
            Button(f"account.approve:{request.correlation_id}", f"Approve {name}", "primary"),
            Button(f"account.deny:{request.correlation_id}", f"Deny {name}", "danger"),
        ]
    for access in access_waiting:
        name = ticket_views.display_name(ctx, access.person_email)
        what = access_records.entry_name(ctx, access.entry_id)
        lines.append(
            f"{what} for {name} {access_records.how_long(access.duration_seconds)}, "
            f"asked at {access.created_at:%Y-%m-%d %H:%M} UTC"
        )
        buttons += [
            Button(f"access.approve:{access.correlation_id}", f"Approve {name}: {what}", "primary"),
            Button(f"access.deny:{access.correlation_id}", f"Deny {name}: {what}", "danger"),
        ]
    return lines, buttons


def show_team_tickets(ctx: Context) -> None:
    """Open tickets of the speaker's direct reports (the manager the directory named when each was opened)."""
    team = tickets.open_tickets_where(ctx.session, Ticket.requester_manager == ctx.speaker.email)
    if not team:
        ctx.reply("Nobody in your team has an open ticket.")
        return
    ctx.reply("Your team's open tickets:\n" + "\n".join(ticket_views.queue_line(t) for t in team))
