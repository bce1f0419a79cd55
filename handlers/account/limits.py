"""What is checked before a new request starts, and what it replaces.

Per-person daily limits bound code guessing and the mail sent to the person and their manager. A new
request voids the person's open ones, and one still `executing` long after (a crash mid-way) is reported
to a technician, never run again.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.clock import now
from bot.store.models import ResetRequest
from handlers.account.handover import ticket_for
from handlers.account.records import audit_attempt, audit_step, noun, transition
from handlers.context import Context

OPEN = ("pending", "verified")  # statuses a newer request of the same person voids
# A directory change takes seconds; a request still executing after this was interrupted (a crash).
STUCK_AFTER = timedelta(minutes=2)


def over_limits(ctx: Context, kind: str) -> bool:
    """Requests and wrong codes per person per day: bounds code guessing and mail to the person/manager.

    Checked before anything about the account is looked at, so the answer is the same for everyone.
    """
    since = now() - timedelta(hours=24)
    mine = (ResetRequest.person_email == ctx.speaker.email, ResetRequest.created_at >= since)
    requests = int(ctx.session.scalar(select(func.count()).select_from(ResetRequest).where(*mine)) or 0)
    if requests >= ctx.settings.account_requests_per_day:
        audit_attempt(ctx, kind, "request_limit", requests=requests)
        ctx.reply(
            f"You've reached the limit of {ctx.settings.account_requests_per_day} password reset and "
            "unlock requests in 24 hours, which protects your account. Say 'talk to a human' if you "
            "need help now."
        )
        return True
    if wrong_codes_today(ctx) >= ctx.settings.code_failures_per_day:
        audit_attempt(ctx, kind, "code_limit")
        ctx.reply(
            "There were too many wrong verification codes for your account in the last 24 hours, so I "
            "can't start another reset or unlock now; this protects your account. Say 'talk to a human' "
            "and a technician will help you."
        )
        return True
    return False


def unfinished_execution(ctx: Context) -> bool:
    """An earlier request of the speaker is still `executing`: wait for it, or own up to a crash."""
    stuck = ctx.session.scalars(
        select(ResetRequest).where(
            ResetRequest.person_email == ctx.speaker.email, ResetRequest.status == "executing"
        )
    ).all()
    if not stuck:
        return False
    if any(now() - request.updated_at < STUCK_AFTER for request in stuck):
        ctx.reply("I'm still finishing your previous request; you'll hear from me in a moment.")
        return True
    for request in stuck:
        if transition(ctx, request, "interrupted", "executing"):
            _report_interrupted(ctx, request)
    return True


def _report_interrupted(ctx: Context, request: ResetRequest) -> None:
    """Never re-run: the directory may or may not have changed. Say so, and have a technician look."""
    audit_step(ctx, request, "interrupted", "unknown_outcome")
    ticket = ticket_for(
        ctx,
        request,
        "the bot stopped in the middle of the directory change (a crash or restart); check whether the "
        "password was changed or the account unlocked, and that a new password must be changed at logon",
        ctx.speaker.profile,
    )
    request.ticket_id = ticket
    ctx.reply(
        f"Your earlier {noun(request.kind)} was interrupted on my side, so I can't tell whether it "
        f"changed your account. I've opened ticket #{ticket}; a technician will check it and contact you.",
        ticket=ticket,
    )


def void_open_requests(ctx: Context) -> None:
    """A new request replaces the person's open ones, so several approvals cannot mean several resets."""
    for request in ctx.session.scalars(
        select(ResetRequest).where(
            ResetRequest.person_email == ctx.speaker.email, ResetRequest.status.in_(OPEN)
        )
    ).all():
        if transition(ctx, request, "cancelled", *OPEN):
            audit_step(ctx, request, "voided", "superseded")


def resets_today(ctx: Context, email: str) -> int:
    since = now() - timedelta(hours=24)
    return int(
        ctx.session.scalar(
            select(func.count())
            .select_from(ResetRequest)
            .where(
                ResetRequest.person_email == email,
                ResetRequest.kind == "reset",
                ResetRequest.status.in_(("done", "partial")),
                ResetRequest.created_at >= since,
            )
        )
        or 0
    )


def wrong_codes_today(ctx: Context) -> int:
    since = now() - timedelta(hours=24)
    return int(
        ctx.session.scalar(
            select(func.coalesce(func.sum(ResetRequest.attempts), 0)).where(
                ResetRequest.person_email == ctx.speaker.email, ResetRequest.created_at >= since
            )
        )
        or 0
    )


def reset_limit_text(ctx: Context) -> str:
    return (
        f"You've reached the limit of {ctx.settings.resets_per_day} password resets in 24 hours, "
        "which protects your account. Say 'talk to a human' if you need help now."
    )
