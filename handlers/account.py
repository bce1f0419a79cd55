"""Password reset and account unlock, self-service, with the person verified first.

    identify the requester's OWN account → refuse guests, disabled and protected accounts (before any
    write) → limits → verify (a code to the recovery address, the manager's approval, or — opted in —
    the chat identity) → act on the directory → deliver the temporary password once, as a secret →
    email the owner that it happened → audit every step.

Refusals all use the same words, whatever the reason, so the bot tells nobody which accounts exist or are
privileged; the reason goes to the audit log and to the technician's ticket. State lives in
`reset_requests` and the conversation, so a restart between the code and its entry resumes the flow.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from datetime import timedelta

import structlog
from sqlalchemy import func, select

from automations.directory import (
    AccountStatus,
    DirectoryError,
    DirectoryPerson,
    DirectoryUnavailable,
    NotLocked,
    PolicyViolation,
)
from automations.passwords import generate_temporary_password
from bot.clock import now
from bot.logs import register_secret
from bot.messages import Button, Card
from bot.store.models import ResetRequest
from handlers import audit, conversations, tickets
from handlers.context import Context
from handlers.registry import action, flow, in_flow

log = structlog.get_logger(__name__)

FLOW = "account"
CODE_DIGITS = 6
MAX_NEW_CODES = 3
REFUSAL = (
    "I can't {verb} this account automatically, so I've opened ticket #{ticket} for a technician, "
    "who will contact you."
)
_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(\.[\w-]+)+")
_SOMEONE_ELSE = re.compile(
    r"\b(his|her|their|my (boss|manager|colleague|coworker|co-worker)|"
    r"for (him|her|them)|someone else|another user|other user)\b",
    re.I,
)


# ---------------------------------------------------------------- entry points (by intent)


def start_reset(ctx: Context, text: str) -> None:
    _start(ctx, text, kind="reset")


def start_unlock(ctx: Context, text: str) -> None:
    _start(ctx, text, kind="unlock")


def _start(ctx: Context, text: str, kind: str) -> None:
    correlation = uuid.uuid4().hex
    target = ctx.speaker.email
    if _asks_for_someone_else(ctx, text):
        _audit(ctx, f"{kind}.refused", correlation, "someone_else", asked=text[:200])
        ctx.reply(
            f"I can only {_verb(kind)} your own account. The person it belongs to can ask me "
            "themselves, or a technician can help — say 'talk to a human'."
        )
        return
    eligible = _eligible(ctx, kind, correlation, text)
    if eligible is None:
        return
    profile, status = eligible
    if kind == "reset" and _resets_today(ctx) >= ctx.settings.resets_per_day:
        _audit(ctx, "reset.refused", correlation, "limit")
        ctx.reply(
            f"You've reached the limit of {ctx.settings.resets_per_day} password resets in 24 hours, "
            "which protects your account. Say 'talk to a human' if you need help now."
        )
        return
    if kind == "unlock" and not status.locked:
        _audit(ctx, "unlock.not_locked", correlation, "nothing_to_do")
        ctx.reply(
            "Your account isn't locked, so there's nothing to unlock. If you've forgotten your password, "
            "I can reset it.",
            [Button("account.reset", "Reset my password", "primary")],
        )
        return
    method = _method(ctx, kind, profile)
    request = ResetRequest(
        correlation_id=correlation,
        person_email=target,
        kind=kind,
        method=method,
        status="pending",
        created_at=now(),
        updated_at=now(),
    )
    ctx.session.add(request)
    ctx.session.flush()
    _audit(ctx, f"{kind}.requested", correlation, "pending", method=method)
    ctx.state.start(FLOW, method, correlation=correlation, kind=kind)
    if method == "email_code":
        _send_code(ctx, request, profile)
    elif method == "manager_approval":
        _ask_manager(ctx, request, profile)
    else:
        _execute(ctx, request, profile)


def _eligible(
    ctx: Context, kind: str, correlation: str, text: str
) -> tuple[DirectoryPerson, AccountStatus] | None:
    """The speaker's own directory account and its status, if automation may touch it; else a ticket."""
    speaker = ctx.speaker
    if speaker.is_guest:
        _audit(ctx, f"{kind}.refused", correlation, "guest")
        ctx.reply(
            "I can't reset or unlock guest and external accounts. Please contact your host at the "
            "company, or the service desk."
        )
        return None
    if speaker.directory_down:
        _hand_over(ctx, kind, correlation, "directory unavailable", text, down=True)
        return None
    if speaker.profile is None:
        _hand_over(ctx, kind, correlation, "no directory account for the chat identity", text)
        return None
    try:
        status = ctx.services.directory.account_status(speaker.profile)
    except DirectoryUnavailable:
        _hand_over(ctx, kind, correlation, "directory unavailable", text, down=True)
        return None
    except DirectoryError as error:
        _hand_over(ctx, kind, correlation, error.reason, text)
        return None
    reason = (
        "not found"
        if not status.exists
        else "disabled"
        if status.disabled
        else f"protected: {status.protected_reason or 'privileged'}"
        if status.protected
        else ""
    )
    if reason:
        _hand_over(ctx, kind, correlation, reason, text)
        return None
    return speaker.profile, status


def _method(ctx: Context, kind: str, profile: DirectoryPerson) -> str:
    """The verification to use: the configured one, falling back when its channel is missing."""
    method = ctx.settings.reset_verification if kind == "reset" else ctx.settings.unlock_verification
    if method == "email_code" and not (profile.recovery_email and ctx.settings.email_enabled):
        return "manager_approval"
    return method


# ---------------------------------------------------------------- verification: email code


def _send_code(ctx: Context, request: ResetRequest, profile: DirectoryPerson) -> None:
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    request.code_hash = _hash(request.correlation_id, code)
    request.code_expires_at = now() + timedelta(seconds=ctx.settings.code_ttl_seconds)
    request.updated_at = now()
    recovery = profile.recovery_email or ""
    ctx.email(
        recovery,
        "Your service desk verification code",
        f"Your verification code is {code}. It is valid for {ctx.settings.code_ttl_seconds // 60} minutes "
        f"and can be used once.\n\nIf you didn't ask for it, ignore this email and tell "
        f"{ctx.settings.helpdesk_contact}.",
    )
    _audit(ctx, f"{request.kind}.code_sent", request.correlation_id, "sent", to=_mask(recovery))
    ctx.reply(
        f"To check it's really you, I've emailed a {CODE_DIGITS}-digit code to {_mask(recovery)}. "
        "Type it here.",
        [Button("account.new_code", "Send a new code"), Button("account.cancel", "Cancel")],
    )


@flow(FLOW)
def on_text(ctx: Context, text: str) -> None:
    if ctx.state.step != "email_code":
        ctx.reply(
            "I'm waiting for your manager's approval; I'll tell you as soon as they answer. "
            "Say 'cancel' to stop."
        )
        return
    request = _request(ctx, ctx.state.data.get("correlation", ""))
    if request is None or request.status != "pending":
        ctx.state.end()
        ctx.reply("That request is no longer open. Ask me again if you still need help.")
        return
    entered = re.sub(r"\s", "", text)
    if not re.fullmatch(rf"\d{{{CODE_DIGITS}}}", entered):
        ctx.reply(f"Please type the {CODE_DIGITS}-digit code from the email, or 'cancel'.")
        return
    _check_code(ctx, request, entered)


def _check_code(ctx: Context, request: ResetRequest, entered: str) -> None:
    if request.code_expires_at is None or now() > request.code_expires_at:
        _audit(ctx, f"{request.kind}.code_expired", request.correlation_id, "expired")
        ctx.reply(
            "That code has expired.",
            [Button("account.new_code", "Send a new code"), Button("account.cancel", "Cancel")],
        )
        return
    if not hmac.compare_digest(request.code_hash, _hash(request.correlation_id, entered)):
        request.attempts += 1
        request.updated_at = now()
        left = ctx.settings.code_attempts - request.attempts
        _audit(ctx, f"{request.kind}.code_wrong", request.correlation_id, "wrong", attempts=request.attempts)
        if left <= 0:
            _fail_too_many(ctx, request)
        else:
            ctx.reply(f"That code isn't right. {left} {'try' if left == 1 else 'tries'} left.")
        return
    request.code_hash = ""  # single use
    _audit(ctx, f"{request.kind}.verified", request.correlation_id, "verified", method="email_code")
    profile = ctx.speaker.profile
    if profile is not None:
        _execute(ctx, request, profile)


def _fail_too_many(ctx: Context, request: ResetRequest) -> None:
    request.status, request.code_hash = "failed", ""
    ctx.state.end()
    _audit(ctx, f"{request.kind}.locked_out", request.correlation_id, "too_many_codes")
    ctx.reply(
        "Too many wrong codes, so I've stopped this request to protect your account. Nothing was "
        "changed. Say 'talk to a human' and a technician will help you."
    )
    ctx.email(
        ctx.speaker.email,
        "Password reset stopped",
        "Someone entered several wrong verification codes for your account in the service desk chat, "
        f"so the request was stopped. If this wasn't you, contact {ctx.settings.helpdesk_contact}.",
    )


@action("account.new_code")
def on_new_code(ctx: Context, _: str) -> None:
    if not in_flow(ctx, FLOW, "email_code"):
        return
    request = _request(ctx, ctx.state.data.get("correlation", ""))
    profile = ctx.speaker.profile
    if request is None or request.status != "pending" or profile is None:
        ctx.state.end()
        ctx.reply("That request is no longer open. Ask me again if you still need help.")
        return
    sent = int(ctx.state.data.get("codes_sent", 1))
    if sent >= MAX_NEW_CODES:
        ctx.reply("I've already sent several codes. Check your spam folder, or say 'talk to a human'.")
        return
    ctx.state.goto("email_code", codes_sent=sent + 1)
    _send_code(ctx, request, profile)  # the new code replaces (voids) the old one


# ---------------------------------------------------------------- verification: manager approval


def _ask_manager(ctx: Context, request: ResetRequest, profile: DirectoryPerson) -> None:
    manager = (profile.manager_email or "").lower()
    if not manager or manager == ctx.speaker.email:
        request.status = "failed"
        ctx.state.end()
        _hand_over(
            ctx, request.kind, request.correlation_id, "no manager to approve", f"{request.kind} request"
        )
        return
    request.approver_email = manager
    what = "password reset" if request.kind == "reset" else "account unlock"
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
    )
    ctx.email(
        manager,
        f"Approval needed: {what} for {profile.name}",
        f"{profile.name} asked for a {what}. Approve or deny it in chat within {minutes} minutes.",
    )
    _audit(ctx, f"{request.kind}.approval_requested", request.correlation_id, "pending", approver=manager)
    ctx.reply(
        f"To check it's really you, I've asked your manager, {_name(ctx, manager)}, to confirm. "
        f"I'll continue as soon as they approve (the request is valid for {minutes} minutes).",
        [Button("account.cancel", "Cancel")],
    )


@action("account.approve")
def on_approve(ctx: Context, correlation: str) -> None:
    _decide(ctx, correlation, approve=True)


@action("account.deny")
def on_deny(ctx: Context, correlation: str) -> None:
    _decide(ctx, correlation, approve=False)


def _decide(ctx: Context, correlation: str, *, approve: bool) -> None:
    """Checked at click time, by the clicker's identity: only the named approver, never the requester."""
    request = _request(ctx, correlation)
    decision = "approve" if approve else "deny"
    if request is None or request.method != "manager_approval":
        ctx.reply("I can't find that request.")
        return
    if ctx.speaker.email == request.person_email or ctx.speaker.email != request.approver_email:
        _audit(ctx, f"{request.kind}.{decision}_refused", correlation, "not_approver")
        ctx.reply("You can't decide on this request: only the person's manager can, and never the person.")
        return
    if request.status != "pending":
        ctx.reply(f"This request was already handled ({request.status}).")
        return
    if now() - request.created_at > timedelta(minutes=ctx.settings.approval_ttl_minutes):
        request.status = "expired"
        _audit(ctx, f"{request.kind}.approval_expired", correlation, "expired")
        ctx.reply("This request has expired, so nothing was done. The person can ask again.")
        ctx.send(
            request.person_email,
            "Your manager's approval came too late, so nothing was changed. "
            "Ask me again if you still need help.",
        )
        return
    _release_requester(ctx, request.person_email)
    if not approve:
        request.status = "denied"
        _audit(ctx, f"{request.kind}.denied", correlation, "denied")
        ctx.reply("Denied. Nothing was changed.")
        ctx.send(
            request.person_email,
            f"{ctx.speaker.name} did not approve the request, so nothing was changed. "
            f"If you need help, contact {ctx.settings.helpdesk_contact}.",
        )
        return
    _audit(ctx, f"{request.kind}.verified", correlation, "approved", method="manager_approval")
    owner = ctx.services.directory.find_by_email(request.person_email)
    ctx.reply("Approved — thank you.")
    if owner is not None:
        _execute(ctx, request, owner)


def _release_requester(ctx: Context, email: str) -> None:
    state = conversations.load(ctx.session, email, timeout_minutes=10**6)
    if state.flow == FLOW:
        state.end()
        conversations.save(ctx.session, email, state)


@action("account.cancel")
def on_cancel(ctx: Context, _: str) -> None:
    if not in_flow(ctx, FLOW):
        return
    request = _request(ctx, ctx.state.data.get("correlation", ""))
    if request is not None and request.status == "pending":
        request.status = "cancelled"
        _audit(ctx, f"{request.kind}.cancelled", request.correlation_id, "cancelled")
    ctx.state.end()
    ctx.reply("Cancelled; nothing was changed.")


@action("account.reset")
def on_reset_button(ctx: Context, _: str) -> None:
    start_reset(ctx, "reset my password")


# ---------------------------------------------------------------- acting on the directory


def _execute(ctx: Context, request: ResetRequest, owner: DirectoryPerson) -> None:
    """Do the reset or unlock once: the request must still be pending, and becomes done or failed."""
    if request.status != "pending":
        return
    request.status, request.updated_at = "verified", now()
    if ctx.speaker.email == owner.email:
        ctx.state.end()
    try:
        if request.kind == "reset":
            _reset(ctx, request, owner)
        else:
            _unlock(ctx, request, owner)
    except NotLocked:
        request.status = "done"
        _audit(ctx, "unlock.not_locked", request.correlation_id, "nothing_to_do", target_override=owner.email)
        ctx.send(owner.email, "Your account isn't locked any more — try signing in again.")
    except DirectoryError as error:
        request.status = "failed"
        _audit(
            ctx,
            f"{request.kind}.failed",
            request.correlation_id,
            type(error).__name__,
            reason=error.reason,
            target_override=owner.email,
        )
        ticket = _ticket_for(ctx, owner, request.kind, f"automation failed: {error.reason}")
        request.ticket_id = ticket
        ctx.send(owner.email, _failure_text(error, request.kind, ticket), ticket=ticket)


def _reset(ctx: Context, request: ResetRequest, owner: DirectoryPerson) -> None:
    directory = ctx.services.directory
    avoid = (owner.username, *owner.name.split())  # AD refuses passwords containing the account's names
    password = generate_temporary_password(directory.password_policy(), avoid=avoid)
    register_secret(password)
    try:
        directory.reset_password(owner, password, must_change=True)
    except PolicyViolation:  # once more: a rare clash with a rule we cannot read (history, dictionary)
        password = generate_temporary_password(directory.password_policy(), avoid=avoid)
        register_secret(password)
        directory.reset_password(owner, password, must_change=True)
    request.status, request.updated_at = "done", now()
    _audit(
        ctx, "reset.done", request.correlation_id, "success", must_change=True, target_override=owner.email
    )
    minutes = ctx.settings.secret_ttl // 60
    ctx.send(
        owner.email,
        f"Your temporary password is: {password}\nYou'll be asked to choose a new one when you "
        f"sign in. For your safety this message disappears in {minutes} minutes.",
        secret=password,
        delete_after=ctx.settings.secret_ttl,
    )
    _notify_owner(ctx, owner, "Your password was reset")


def _unlock(ctx: Context, request: ResetRequest, owner: DirectoryPerson) -> None:
    ctx.services.directory.unlock(owner)
    request.status, request.updated_at = "done", now()
    _audit(ctx, "unlock.done", request.correlation_id, "success", target_override=owner.email)
    ctx.send(owner.email, "Your account is unlocked — your password is unchanged. Try signing in again.")
    _notify_owner(ctx, owner, "Your account was unlocked")


def _notify_owner(ctx: Context, owner: DirectoryPerson, what: str) -> None:
    """The second channel: the owner hears about it by email, so a hijacked chat cannot stay hidden."""
    ctx.email(
        owner.email,
        what,
        f"{what} through the service desk chat at {now():%Y-%m-%d %H:%M} UTC.\n\n"
        f"If this wasn't you, contact {ctx.settings.helpdesk_contact} right away.",
    )


# ---------------------------------------------------------------- when automation cannot finish


def _hand_over(
    ctx: Context, kind: str, correlation: str, reason: str, text: str, *, down: bool = False
) -> None:
    """Refuse in the same words whatever the reason; the technician gets the reason in a ticket."""
    _audit(ctx, f"{kind}.refused", correlation, "handed_over", reason=reason)
    ticket = _ticket_for(ctx, ctx.speaker.profile, kind, reason, text)
    if down:
        ctx.reply(
            f"I can't reach the company directory right now, so I can't {_verb(kind)} your account. "
            f"I've opened ticket #{ticket} so a technician can help.",
            ticket=ticket,
        )
    else:
        ctx.reply(REFUSAL.format(verb=_verb(kind), ticket=ticket), ticket=ticket)


def _ticket_for(ctx: Context, owner: DirectoryPerson | None, kind: str, reason: str, text: str = "") -> int:
    what = "Password reset" if kind == "reset" else "Account unlock"
    requester = owner.email if owner else ctx.speaker.email
    problem = f"{what} for {requester} could not be done by the bot."
    transcript = (
        f"Asked: {text!r}. Bot stopped because: {reason}." if text else f"Bot stopped because: {reason}."
    )
    if requester != ctx.speaker.email:  # e.g. a manager approved: the ticket is still the owner's
        transcript += f" (Approved by {ctx.speaker.email}.)"
    ticket = tickets.open_ticket(ctx, problem=problem, urgent=True, category=kind, transcript=transcript)
    if owner is not None and ticket.requester_email != owner.email:
        _reassign_requester(ticket, owner)
    return ticket.id


def _reassign_requester(ticket: tickets.Ticket, owner: DirectoryPerson) -> None:
    ticket.requester_email, ticket.requester_name = owner.email, owner.name
    ticket.requester_title, ticket.requester_department = owner.title, owner.department
    ticket.requester_location, ticket.requester_manager = owner.location, owner.manager_email or ""


def _failure_text(error: DirectoryError, kind: str, ticket: int) -> str:
    if isinstance(error, DirectoryUnavailable):
        lead = "I couldn't reach the company directory, so nothing was changed."
    else:
        lead = (
            f"The directory refused the {'reset' if kind == 'reset' else 'unlock'}, so nothing was changed."
        )
    return f"{lead} I've opened ticket #{ticket}; a technician will contact you."


# ---------------------------------------------------------------- small helpers


def _asks_for_someone_else(ctx: Context, text: str) -> bool:
    emails = {m.group(0).lower() for m in _EMAIL.finditer(text)}
    if emails - {ctx.speaker.email}:
        return True
    return bool(_SOMEONE_ELSE.search(text))


def _resets_today(ctx: Context) -> int:
    since = now() - timedelta(hours=24)
    return int(
        ctx.session.scalar(
            select(func.count())
            .select_from(ResetRequest)
            .where(
                ResetRequest.person_email == ctx.speaker.email,
                ResetRequest.kind == "reset",
                ResetRequest.status == "done",
                ResetRequest.created_at >= since,
            )
        )
        or 0
    )


def _request(ctx: Context, correlation: str) -> ResetRequest | None:
    if not correlation:
        return None
    return ctx.session.scalars(select(ResetRequest).where(ResetRequest.correlation_id == correlation)).first()


def _audit(
    ctx: Context,
    action_name: str,
    correlation: str,
    result: str,
    *,
    target_override: str = "",
    **detail: object,
) -> None:
    audit.record(
        ctx.session,
        actor=ctx.speaker.email,
        action=action_name,
        target=target_override or ctx.speaker.email,
        result=result,
        correlation_id=correlation,
        **detail,
    )


def _hash(correlation: str, code: str) -> str:
    return hashlib.sha256(f"{correlation}:{code}".encode()).hexdigest()


def _mask(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}{'*' * max(2, len(local) - 1)}@{domain}" if domain else "your recovery address"


def _name(ctx: Context, email: str) -> str:
    return tickets.display_name(ctx, email)


def _verb(kind: str) -> str:
    return "reset the password of" if kind == "reset" else "unlock"
