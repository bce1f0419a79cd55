"""Approvals and the grant: approver cards, Approve / Deny checked at click time, and — once enough
different approvers said yes — commit, then add the person to the catalogue entry's group.

A decision after the request expired, after it was decided, or replayed (a double click, a retried
event) changes nothing and says so: every change of status is one conditional UPDATE, and an approver
counts once however often they press.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog

from automations.access_catalog import AccessEntry
from automations.directory import DirectoryError, DirectoryPerson
from bot.clock import now
from bot.messages import Button
from bot.store.models import AccessGrant, AccessRequest
from handlers import tickets
from handlers.access.records import (
    DENY_FLOW,
    MAX_JUSTIFICATION,
    approver_rule,
    audit_grant,
    audit_request,
    bot_grant_for,
    catalog,
    entry_name,
    find_request,
    how_long,
    requester_profile,
    transition,
    until,
)
from handlers.access.request import request_card
from handlers.context import Context
from handlers.registry import action, flow

log = structlog.get_logger(__name__)


def card_topic(request: AccessRequest) -> str:
    return f"access:{request.id}"


def ask_approvers(
    ctx: Context, request: AccessRequest, entry: AccessEntry, person: DirectoryPerson, approvers: list[str]
) -> None:
    request.notified = approvers
    manager = tickets.display_name(ctx, person.manager_email) if person.manager_email else ""
    card = request_card(entry, request, person, manager)
    needed = request.approvals_needed
    for approver in approvers:
        ctx.send(
            approver,
            f"{person.name} asks for {entry.name} {how_long(request.duration_seconds)}."
            + (f" It needs {needed} approvals from different people." if needed > 1 else ""),
            _decision_buttons(request),
            card=card,
            topic=card_topic(request),
            quoted=(request.justification,),
        )
        ctx.email(
            approver,
            f"Approval needed: {entry.name} for {person.name}",
            f"{person.name} asks for {entry.name} {how_long(request.duration_seconds)}. Approve or deny "
            f"it in chat before {request.expires_at:%Y-%m-%d %H:%M} UTC.",
        )
    audit_request(ctx, request, "approval_requested", "pending", approvers=approvers)
    who = ", ".join(tickets.display_name(ctx, email) for email in approvers[:3])
    ctx.reply(
        f"I've sent your request for {entry.name} to {who}"
        + (f" (it needs {needed} of them)" if needed > 1 else "")
        + f". I'll tell you as soon as it's decided; it waits until {request.expires_at:%Y-%m-%d %H:%M} UTC."
    )


def _decision_buttons(request: AccessRequest) -> list[Button]:
    return [
        Button(f"access.approve:{request.correlation_id}", "Approve", "primary"),
        Button(f"access.deny:{request.correlation_id}", "Deny", "danger"),
    ]


def approve_without_approvers(ctx: Context, request: AccessRequest) -> None:
    """The catalogue says no approval is needed (auto, or the requester's department/group)."""
    transition(ctx.session, request, "approved", "pending")
    audit_request(ctx, request, "auto_approved", "approved")
    ctx.reply("This access needs no approval for you, so I'm granting it now.")
    ctx.after_commit(_Claim(request.correlation_id))


# --- the approver's buttons ---------------------------------------------------------------------------


@action("access.approve")
def on_approve(ctx: Context, correlation: str) -> None:
    checked = _checked(ctx, correlation, "approve")
    if checked is None:
        return
    request, entry = checked
    if ctx.speaker.email in request.approvals:
        audit_request(ctx, request, "approve_repeated", "ignored")
        ctx.reply("You've already approved this request; it needs another approver, not another click.")
        return
    request.approvals = [*request.approvals, ctx.speaker.email]
    audit_request(ctx, request, "approved_by", "approved", count=len(request.approvals))
    missing = request.approvals_needed - len(request.approvals)
    if missing > 0:
        ctx.reply(f"Approved — thank you. It needs {missing} more approval{'s' if missing > 1 else ''}.")
        _refresh_cards(ctx, request, entry)
        return
    if not transition(ctx.session, request, "approved", "pending"):
        ctx.reply(f"This request was already {request.status}; nothing changed.")
        return
    request.decided_by = ctx.speaker.email
    ctx.reply("Approved — thank you. I'm granting it now.")
    _close_cards(ctx, request, entry, f"Approved by {', '.join(request.approvals)}.")
    ctx.after_commit(_Claim(request.correlation_id))


@action("access.deny")
def on_deny(ctx: Context, correlation: str) -> None:
    checked = _checked(ctx, correlation, "deny")
    if checked is None:
        return
    request, _ = checked
    ctx.state.start(DENY_FLOW, "reason", correlation=request.correlation_id)
    ctx.reply("Why are you denying it? (the requester will see your reason; 'cancel' keeps it open)")


@flow(DENY_FLOW, called="the denial you were writing")
def on_deny_reason(ctx: Context, text: str) -> None:
    correlation = str(ctx.state.data.get("correlation", ""))
    ctx.state.end()
    checked = _checked(ctx, correlation, "deny")
    if checked is None:
        return
    request, entry = checked
    reason = " ".join(text.split())[:MAX_JUSTIFICATION]
    if not transition(ctx.session, request, "denied", "pending"):
        ctx.reply(f"This request was already {request.status}; nothing changed.")
        return
    request.decided_by, request.reason = ctx.speaker.email, reason
    audit_request(ctx, request, "denied", "denied")
    ctx.reply("Denied. Nothing was granted.")
    ctx.send(
        request.person_email,
        f"{ctx.speaker.name} denied your request for {entry.name}: {reason}",
        quoted=(reason,),
    )
    _close_cards(ctx, request, entry, f"Denied by {ctx.speaker.name}.")


def _checked(ctx: Context, correlation: str, decision: str) -> tuple[AccessRequest, AccessEntry] | None:
    """The request and its entry when the clicker may decide on it now; otherwise say why not."""
    request = find_request(ctx.session, correlation)
    access = catalog(ctx)
    entry = access.get(request.entry_id) if request is not None and access else None
    if request is None or entry is None:
        ctx.reply("I can't find that access request.")
        return None
    ctx.session.refresh(request, with_for_update=True)  # concurrent approvals count one at a time
    if not approver_rule(ctx, request, entry):
        audit_request(ctx, request, f"{decision}_refused", "not_approver")
        own = ctx.speaker.email == request.person_email
        ctx.reply(
            "You can't decide on your own request, whatever your role."
            if own
            else "You can't decide on this request: you are not one of its approvers."
        )
        return None
    if request.status == "pending" and now() >= request.expires_at:
        expire_request(ctx, request)
    if request.status != "pending":
        audit_request(ctx, request, f"{decision}_too_late", request.status)
        ctx.reply(f"This request is already {request.status}, so your decision changed nothing.")
        return None
    return request, entry


def expire_request(ctx: Context, request: AccessRequest) -> bool:
    """A pending request past its time expires (once): the requester is told, the cards updated."""
    if not transition(ctx.session, request, "expired", "pending"):
        return False
    audit_request(ctx, request, "request_expired", "expired")
    access = catalog(ctx)
    entry = access.get(request.entry_id) if access else None
    name = entry.name if entry else request.entry_id
    ctx.send(
        request.person_email,
        f"Your request for {name} expired before it was approved, so nothing was granted. Ask again if "
        "you still need it.",
    )
    for approver in request.notified:
        ctx.update(
            approver,
            card_topic(request),
            f"The request for {name} by {request.person_email} expired before enough approvals; nothing "
            "was granted.",
        )
    return True


@action("access.withdraw")
def on_withdraw(ctx: Context, correlation: str) -> None:
    """The requester's Cancel on a request still waiting (App Home): it is cancelled, once, and the
    approvers' cards say so. Someone else's request, or one already decided, changes nothing."""
    request = find_request(ctx.session, correlation)
    mine = request is not None and request.person_email == ctx.speaker.email
    if request is None or not mine or not transition(ctx.session, request, "cancelled", "pending"):
        ctx.reply("That request is no longer waiting, so there was nothing to cancel.")
        return
    audit_request(ctx, request, "request_withdrawn", "cancelled")
    name = entry_name(ctx, request.entry_id)
    ctx.reply(f"OK, I've cancelled your request for {name}; nothing was granted.")
    for approver in request.notified:
        ctx.update(approver, card_topic(request), f"{request.person_email} cancelled the request for {name}.")


def remind(ctx: Context, request: AccessRequest) -> None:
    """The one reminder to approvers who have not decided yet."""
    request.reminded_at = now()
    access = catalog(ctx)
    entry = access.get(request.entry_id) if access else None
    name = entry.name if entry else request.entry_id
    for approver in request.notified:
        if approver not in request.approvals:
            ctx.send(
                approver,
                f"Reminder: {request.person_email} is waiting for your decision on {name}; the request "
                f"expires at {request.expires_at:%Y-%m-%d %H:%M} UTC.",
                _decision_buttons(request),
            )
    audit_request(ctx, request, "reminder_sent", "pending")


def _refresh_cards(ctx: Context, request: AccessRequest, entry: AccessEntry) -> None:
    person = requester_profile(ctx, request)
    if person is None:
        return
    card = request_card(entry, request, person, person.manager_email or "")
    for approver in request.notified:
        approved = approver in request.approvals
        ctx.update(
            approver,
            card_topic(request),
            f"{person.name} asks for {entry.name}. Approved by {', '.join(request.approvals)}; waiting for "
            "another approver.",
            [] if approved else _decision_buttons(request),
            card=card,
        )


def _close_cards(ctx: Context, request: AccessRequest, entry: AccessEntry, outcome: str) -> None:
    for approver in request.notified:
        ctx.update(
            approver,
            card_topic(request),
            f"Access request for {entry.name} by {request.person_email}: {outcome}",
        )


def reclaim(ctx: Context, request: AccessRequest) -> None:
    """An approved request whose claim never ran (the process stopped right after the commit)."""
    audit_request(ctx, request, "grant_resumed", "approved")
    ctx.after_commit(_Claim(request.correlation_id))


# --- commit, then act ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claim:
    """Deferred: take the approved request for granting (approved → granting), committed before acting."""

    correlation: str

    def __call__(self, ctx: Context) -> None:
        request = find_request(ctx.session, self.correlation)
        if request is None or not transition(ctx.session, request, "granting", "approved"):
            log.info("access_request_not_claimed", correlation_id=self.correlation)
            return
        ctx.after_commit(_Grant(self.correlation))


@dataclass(frozen=True)
class _Grant:
    correlation: str

    def __call__(self, ctx: Context) -> None:
        request = find_request(ctx.session, self.correlation)
        if request is not None and request.status == "granting":
            grant(ctx, request)


def grant(ctx: Context, request: AccessRequest) -> None:
    access = catalog(ctx)
    entry = access.get(request.entry_id) if access else None
    # Defence in depth: the group must still be the catalogue entry's own.
    if entry is None or entry.group != request.group:
        _failed(ctx, request, "the catalogue entry changed or is gone")
        return
    person = requester_profile(ctx, request)
    if person is None:
        _failed(ctx, request, "the account is no longer in the directory under this email")
        return
    try:
        added = ctx.services.directory.add_member(person, request.group)
    except DirectoryError as error:
        _failed(ctx, request, error.reason)
        return
    moment = now()
    expires = (
        None
        if request.duration_seconds is None
        else moment + timedelta(seconds=request.duration_seconds or 0)
    )
    record = _record_grant(ctx, request, pre_existing=request.pre_existing or not added, expires=expires)
    request.status, request.updated_at = "granted", moment
    detail: dict[str, Any] = {"added": added, "pre_existing": record.pre_existing}
    ctx.outbox.happened(
        actor=ctx.speaker.email,
        action="access.granted",
        target=request.person_email,
        result="granted",
        correlation_id=request.correlation_id,
        **detail,
    )
    audit_grant(ctx, record, "granted", "granted", request=request.correlation_id, **detail)
    words = f"You now have {entry.name}, {until(record.expires_at)}."
    ctx.send(
        request.person_email,
        f'{words} Say "I\'m done with {entry.name.lower()}" to give it back early.',
    )
    ctx.email(request.person_email, f"Access granted: {entry.name}", words)


def _record_grant(ctx: Context, request: AccessRequest, *, pre_existing: bool, expires: Any) -> AccessGrant:
    """A new grant, or — an extension — the person's active grant of the group, lengthened."""
    current = bot_grant_for(ctx.session, request.person_email, request.group)
    if current is not None and not current.pre_existing:
        if current.expires_at is not None and (expires is None or expires > current.expires_at):
            current.expires_at = current.next_attempt_at = expires
        return current
    record = AccessGrant(
        request_id=request.id,
        person_email=request.person_email,
        person_id=request.person_id,
        entry_id=request.entry_id,
        group=request.group,
        status="active",
        pre_existing=pre_existing,
        granted_at=now(),
        expires_at=expires,
        next_attempt_at=expires,
        removal_attempts=0,
        last_error="",
        end_reason="",
    )
    ctx.session.add(record)
    ctx.session.flush()
    return record


def _failed(ctx: Context, request: AccessRequest, reason: str) -> None:
    request.status, request.updated_at = "failed", now()
    audit_request(ctx, request, "grant_failed", "failed", reason=reason[:300])
    name = entry_name(ctx, request.entry_id)
    ctx.send(
        request.person_email,
        f"Your request for {name} was approved, but I couldn't grant it "
        "automatically; a technician has been told.",
    )
    ctx.triage(f"Access grant failed for {request.person_email} ({request.entry_id}): {reason}")
