"""Verification by the manager's approval, and how a request ends without acting.

The manager gets Approve/Deny buttons, checked at click time against the clicker's identity: only the
named approver may decide, never the person. Cancelling, or leaving the flow any other way, cancels the
pending request, so nothing is left for a manager to approve.

While the person waits, their messages are theirs: the router routes them as usual (`waiting_for_approval`)
and only reminds them of the wait. An approval past its time expires (`expire_approval`, callable by a
scheduled job; until there is one, the person's next message does it) and the person is released and told.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from automations.directory import DirectoryPerson
from bot.clock import now
from bot.messages import Button, Card
from bot.store.models import ResetRequest
from handlers import arguments, audit, conversations, tickets
from handlers.account.act import verified
from handlers.account.handover import hand_over
from handlers.account.records import FLOW, audit_step, find_request, noun, transition, transition_in
from handlers.context import Context, State
from handlers.registry import STALE, action, in_flow, on_cancel_text, on_end


def ask_manager(
    ctx: Context,
    request: ResetRequest,
    profile: DirectoryPerson | None,
    *,
    because_email_failed: bool = False,
) -> None:
    manager = ((profile.manager_email if profile else None) or "").lower()
    if not manager or manager == request.person_email:
        ctx.state.end()
        reason = "no manager to approve" + (
            "; the code email could not be sent" if because_email_failed else ""
        )
        hand_over(ctx, request, reason, status="failed")
        return
    assert profile is not None  # a manager was found on it
    request.method, request.approver_email = "manager_approval", manager
    what = noun(request.kind)
    minutes = ctx.settings.approval_ttl_minutes
    ctx.send(
        manager,
        f"{profile.name} asked for a {what} in the service desk chat. Please approve only if "
        "you've confirmed it's really them (a call or a video chat).",
        [
            Button(f"account.approve:{request.correlation_id}", "Approve", "primary"),
            Button(f"account.deny:{request.correlation_id}", "Deny", "danger"),
        ],
        card=Card(
            f"Approve a {what}?",
            (
                ("Person", f"{profile.name} <{profile.email}>"),
                ("Title", profile.title),
                ("Department", profile.department),
                ("Valid for", f"{minutes} minutes"),
            ),
        ),
        topic=f"approval:{request.correlation_id}",  # the expiry job updates this card
    )
    ctx.email(
        manager,
        f"Approval needed: {what} for {profile.name}",
        f"{profile.name} asked for a {what}. Approve or deny it in chat within {minutes} minutes.",
    )
    audit_step(ctx, request, "approval_requested", "pending", approver=manager)
    lead = (
        "I couldn't email you a verification code, so to check it's really you I've asked your manager, "
        if because_email_failed
        else "To check it's really you, I've asked your manager, "
    )
    ctx.reply(
        f"{lead}{_name(ctx, manager)}, to confirm. I'll continue as soon as they approve "
        f"(the request is valid for {minutes} minutes).",
        [Button(f"account.cancel:{request.correlation_id}", "Cancel")],
    )


@action("account.approve")
def on_approve(ctx: Context, correlation: str) -> None:
    _decide(ctx, correlation, approve=True)


@action("account.deny")
def on_deny(ctx: Context, correlation: str) -> None:
    _decide(ctx, correlation, approve=False)


def _decide(ctx: Context, correlation: str, *, approve: bool) -> None:
    """Checked at click time, by the clicker's identity: only the named approver, never the requester."""
    request = find_request(ctx, arguments.token(correlation) or "")
    decision = "approve" if approve else "deny"
    if request is None or request.method != "manager_approval":
        ctx.reply("I can't find that request.")
        return
    if ctx.speaker.email == request.person_email or ctx.speaker.email != request.approver_email:
        audit_step(ctx, request, f"{decision}_refused", "not_approver")
        ctx.reply("You can't decide on this request: only the person's manager can, and never the person.")
        return
    if request.status != "pending":
        ctx.reply(f"This request was already handled ({request.status}).")
        return
    if expire_approval(
        ctx.session, request, ttl_minutes=ctx.settings.approval_ttl_minutes, actor=ctx.speaker.email
    ):
        _release_requester(ctx, request.person_email)
        ctx.reply("This request has expired, so nothing was done. The person can ask again.")
        ctx.send(
            request.person_email,
            "Your manager's approval came too late, so nothing was changed. "
            "Ask me again if you still need help.",
        )
        return
    # Lock order, the same in every path: the request's row first (its conditional UPDATE decides who
    # wins against a cancel), the requester's conversation after. Opposite orders deadlocked.
    if approve:
        if verified(ctx, request, result="approved"):
            _release_requester(ctx, request.person_email)
            ctx.reply("Approved — thank you.")
        return
    if not transition(ctx, request, "denied", "pending"):
        ctx.reply(f"This request was already handled ({request.status}).")
        return
    _release_requester(ctx, request.person_email)
    audit_step(ctx, request, "denied", "denied")
    ctx.reply("Denied. Nothing was changed.")
    ctx.send(
        request.person_email,
        f"{ctx.speaker.name} did not approve the request, so nothing was changed. "
        f"If you need help, contact {ctx.settings.helpdesk_contact}.",
    )


def _release_requester(ctx: Context, email: str) -> None:
    state = conversations.load(ctx.session, email, timeout_minutes=10**6)
    if state.flow == FLOW:
        state.end()
        conversations.save(ctx.session, email, state)


def expire_approval(
    session: Session, request: ResetRequest, *, ttl_minutes: int, actor: str = "frontdesk"
) -> bool:
    """Expire a pending approval older than `ttl_minutes`; True when this call expired it (once).

    A scheduled job may call it for every pending request; the person is released and told on their next
    message (`release_if_expired`), so nothing here needs to deliver anything.
    """
    too_old = now() - request.created_at > timedelta(minutes=ttl_minutes)
    if request.method != "manager_approval" or not too_old:
        return False
    if not transition_in(session, request, "expired", "pending"):
        return False
    audit.record(
        session,
        actor=actor,
        action=f"{request.kind}.approval_expired",
        target=request.person_email,
        result="expired",
        correlation_id=request.correlation_id,
    )
    return True


def waiting_for_approval(state: State) -> bool:
    """The person is only waiting for their manager: nothing they type belongs to the flow."""
    return state.flow == FLOW and state.step == "manager_approval"


def release_if_expired(ctx: Context) -> None:
    """A wait whose approval has expired (or was decided elsewhere) no longer holds the person; tell them
    when it expired, then the router treats their message as usual."""
    if not waiting_for_approval(ctx.state):
        return
    request = find_request(ctx, ctx.state.data.get("correlation", ""))
    if request is not None and request.status == "pending":
        expire_approval(ctx.session, request, ttl_minutes=ctx.settings.approval_ttl_minutes)
    if request is not None and request.status == "pending":
        return  # still waiting
    ctx.state.end()
    if request is not None and request.status == "expired":
        ctx.reply(
            f"Your manager didn't approve your {noun(request.kind)} in time, so the request expired and "
            "nothing was changed. Ask me again if you still need it."
        )


def remind_of_wait(ctx: Context) -> None:
    """Handled the message while still waiting: say the request is still open, and how to stop it."""
    if waiting_for_approval(ctx.state):
        ctx.reply("(I'm still waiting for your manager's approval of your request; say 'cancel' to stop it.)")


@action("account.cancel")
def on_cancel(ctx: Context, correlation: str) -> None:
    """The Cancel button; it names its request, so a press that comes after the approval is answered
    with what happened rather than as a stale button."""
    if correlation and ctx.state.flow != FLOW:
        request = find_request(ctx, arguments.token(correlation) or "")
        if request is None or request.person_email != ctx.speaker.email:
            ctx.reply(STALE)
        else:
            cancel_request(ctx, request)
        return
    if in_flow(ctx, FLOW):
        cancel_request(ctx, find_request(ctx, ctx.state.data.get("correlation", "")))


@on_cancel_text(FLOW)
def on_cancel_typed(ctx: Context) -> None:
    """ "cancel" typed in the flow does what the Cancel button does, and says what really happened."""
    cancel_request(ctx, find_request(ctx, ctx.state.data.get("correlation", "")))


def cancel_request(ctx: Context, request: ResetRequest | None) -> None:
    """Cancel the pending request — or, when an approval got there first, say that it goes ahead.

    The conditional UPDATE on the request decides the race, and it comes before the conversation is
    saved (the engine saves it last), the same lock order as an approval."""
    if ctx.state.flow == FLOW:
        ctx.state.end()
    if request is None or transition(ctx, request, "cancelled", "pending"):
        if request is not None:
            audit_step(ctx, request, "cancelled", "cancelled")
        ctx.reply("Cancelled; nothing was changed.")
        return
    ctx.reply(_too_late_to_cancel(request))


def _too_late_to_cancel(request: ResetRequest) -> str:
    what = noun(request.kind)
    if request.status in ("verified", "executing", "done", "partial"):
        return f"Too late to stop it: the {what} was already approved, so it is going ahead."
    if request.status == "denied":
        return f"Your manager had already declined the {what}; there is nothing to stop."
    return f"That {what} request was already {request.status}; there is nothing to stop."


@on_end(FLOW)
def on_leave(ctx: Context, data: dict[str, Any]) -> None:
    """Whoever walks away ("cancel", another flow, a timeout) leaves nothing a manager could approve."""
    request = find_request(ctx, str(data.get("correlation", "")))
    if request is not None and transition(ctx, request, "cancelled", "pending"):
        audit_step(ctx, request, "cancelled", "abandoned")
        if ctx.speaker.email == request.person_email:
            ctx.reply(f"(I've cancelled your {noun(request.kind)} request, so nothing will be changed.)")


def _name(ctx: Context, email: str) -> str:
    return tickets.display_name(ctx, email)
