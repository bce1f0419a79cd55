"""Password reset and account unlock, self-service, with the person verified first.

    limits → identify the requester's OWN account → refuse guests, disabled and protected accounts
    (before any write) → verify (a code to the recovery address, the manager's approval, or — opted in —
    the chat identity) → commit "verified" → claim it → act on the directory → deliver the temporary
    password once, as a secret → email the owner that it happened → audit every step.

Commit, then act: the directory is never written inside the transaction of the event that verified the
request. The handler commits the request as `verified` and defers the work (`ctx.after_commit`); the
engine then claims it in a transaction of its own (`verified` → `executing`, one conditional UPDATE, so
of two runners exactly one acts) and acts in the next. A failed commit therefore cannot hide a reset
that happened, nor a retry reset twice. A request still `executing` long after (a crash mid-way) is
never run again: the person is told the truth and a technician gets a ticket.

Refusals all use the same words, whatever the reason, so the bot tells nobody which accounts exist or are
privileged; the reason goes to the audit log and to the technician's ticket. State lives in
`reset_requests` and the conversation, so a restart between the code and its entry resumes the flow.
Audit rows never hold what the person typed (it may contain a password): only what was asked for.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from automations.directory import (
    AccountStatus,
    DirectoryError,
    DirectoryPerson,
    DirectoryUnavailable,
    NotFound,
    NotLocked,
    PartiallyApplied,
    PasswordPolicy,
    PolicyViolation,
)
from automations.passwords import generate_temporary_password
from bot.clock import now
from bot.logs import register_secret
from bot.messages import Button, Card
from bot.store.models import ResetRequest, ServerKey
from handlers import audit, conversations, tickets
from handlers.context import Context
from handlers.registry import action, flow, in_flow, on_end

log = structlog.get_logger(__name__)

FLOW = "account"
CODE_DIGITS = 6
MAX_NEW_CODES = 3
OPEN = ("pending", "verified")  # statuses a newer request of the same person voids
# A directory change takes seconds; a request still executing after this was interrupted (a crash).
STUCK_AFTER = timedelta(minutes=2)
CODE_KEY_NAME = "reset_codes"
REFUSAL = (
    "I can't {verb} this account automatically, so I've opened ticket #{ticket} for a technician, "
    "who will contact you."
)
# Each step a partial reset can leave undone: what the person is told, what the technician must do.
_UNFINISHED = {
    "must_change": (
        "you may not be asked to choose a new password when you sign in, so please change it yourself "
        "right away",
        "set 'must change password at next logon'",
    ),
    "unlock": (
        "your account may still be locked, so signing in may fail until a technician unlocks it",
        "unlock the account",
    ),
}
NO_LONGER_OPEN = "That request is no longer open. Ask me again if you still need help."
_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(\.[\w-]+)+")
_SOMEONE_ELSE = re.compile(
    r"\b(his|her|their|my (boss|manager|colleague|coworker|co-worker)|"
    r"for (him|her|them)|someone else|another user|other user)\b",
    re.I,
)
# Where a request names whose account it is: "bob's password", "reset jsmith", "the password for bob",
# "unlock user jsmith". Each captures the name, compared with the speaker's own names.
_NAMED_ACCOUNT = (
    re.compile(r"\b([a-z][\w.-]*)['’]s\b", re.I),
    re.compile(r"\b(?:reset|unlock|unblock|re-?enable)\s+(?:the\s+)?([\w.@-]+)", re.I),
    re.compile(r"\b(?:password|account|login|pw)\s+(?:for|of)\s+(?:the\s+)?(?:user\s+)?([\w.@-]+)", re.I),
    re.compile(r"\buser(?:name)?\s+([\w.@-]+)", re.I),
)
# Words those patterns catch that are not someone else: pronouns, the things being reset, systems.
_NOT_A_PERSON = frozenset(
    re.findall(
        r"\S+",
        """me myself my mine i it its it's this that the a an our your password passwords passcode pw pwd
        account accounts login logon log sign signin please pls now again today asap quickly work windows
        outlook office email mail vpn computer laptop pc phone teams sso domain network wifi is was has got
        keeps keep and but so to for on in out up what there here let he she who one thanks thank locked
        expired forgot forgotten lost access everything name user""",
    )
)


# ---------------------------------------------------------------- entry points (by intent)


def start_reset(ctx: Context, text: str) -> None:
    _start(ctx, text, kind="reset")


def start_unlock(ctx: Context, text: str) -> None:
    _start(ctx, text, kind="unlock")


def _start(ctx: Context, text: str, kind: str) -> None:
    if _unfinished_execution(ctx) or _over_limits(ctx, kind):
        return
    _void_open_requests(ctx)
    request = _new_request(ctx, kind)
    if _asks_for_someone_else(ctx, text):
        _close(ctx, request, "refused", "refused", "someone_else")
        ctx.reply(
            f"I can only {_verb(kind)} your own account. The person it belongs to can ask me "
            "themselves, or a technician can help — say 'talk to a human'."
        )
        return
    eligible = _eligible(ctx, request)
    if eligible is None:
        return
    profile, status = eligible
    request.account_id = profile.id
    if kind == "reset" and _resets_today(ctx, request.person_email) >= ctx.settings.resets_per_day:
        _close(ctx, request, "refused", "refused", "limit")
        ctx.reply(_reset_limit_text(ctx))
        return
    if kind == "unlock" and not status.locked:
        _close(ctx, request, "refused", "not_locked", "nothing_to_do")
        ctx.reply(
            "Your account isn't locked, so there's nothing to unlock. If you've forgotten your password, "
            "I can reset it.",
            [Button("account.reset", "Reset my password", "primary")],
        )
        return
    request.method = _method(ctx, kind, profile)
    _audit(ctx, request, "requested", "pending", method=request.method)
    ctx.state.start(FLOW, request.method, correlation=request.correlation_id, kind=kind)
    if request.method == "email_code":
        _send_code(ctx, request, profile)
    elif request.method == "manager_approval":
        _ask_manager(ctx, request, profile)
    else:
        _verified(ctx, request, result="verified")


def _new_request(ctx: Context, kind: str) -> ResetRequest:
    """Every attempt is a row, refused ones included: the per-day limits count them all."""
    request = ResetRequest(
        correlation_id=uuid.uuid4().hex,
        person_email=ctx.speaker.email,
        kind=kind,
        method="",
        status="pending",
        created_at=now(),
        updated_at=now(),
    )
    ctx.session.add(request)
    ctx.session.flush()
    return request


def _eligible(ctx: Context, request: ResetRequest) -> tuple[DirectoryPerson, AccountStatus] | None:
    """The speaker's own directory account and its status, if automation may touch it; else a ticket."""
    speaker = ctx.speaker
    if speaker.is_guest:
        _close(ctx, request, "refused", "refused", "guest")
        ctx.reply(
            "I can't reset or unlock guest and external accounts. Please contact your host at the "
            "company, or the service desk."
        )
        return None
    if speaker.directory_down:
        _hand_over(ctx, request, "directory unavailable", down=True)
        return None
    if speaker.profile is None:
        _decoy_status_read(ctx)
        _hand_over(ctx, request, "no directory account for the chat identity")
        return None
    try:
        status = ctx.services.directory.account_status(speaker.profile)
    except DirectoryUnavailable:
        _hand_over(ctx, request, "directory unavailable", down=True)
        return None
    except DirectoryError as error:
        _hand_over(ctx, request, error.reason)
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
        _hand_over(ctx, request, reason)
        return None
    return speaker.profile, status


def _decoy_status_read(ctx: Context) -> None:
    """Refusing an unknown account must cost what refusing a known one does, or timing tells them apart."""
    with suppress(DirectoryError):  # only its duration matters
        ctx.services.directory.decoy_status_read()


def _method(ctx: Context, kind: str, profile: DirectoryPerson) -> str:
    """The verification to use: the configured one, falling back when its channel is missing."""
    method = ctx.settings.reset_verification if kind == "reset" else ctx.settings.unlock_verification
    if method == "email_code" and not (profile.recovery_email and ctx.settings.email_enabled):
        return "manager_approval"
    return method


# ---------------------------------------------------------------- limits and older requests


def _over_limits(ctx: Context, kind: str) -> bool:
    """Requests and wrong codes per person per day: bounds code guessing and mail to the person/manager.

    Checked before anything about the account is looked at, so the answer is the same for everyone.
    """
    since = now() - timedelta(hours=24)
    mine = (ResetRequest.person_email == ctx.speaker.email, ResetRequest.created_at >= since)
    requests = int(ctx.session.scalar(select(func.count()).select_from(ResetRequest).where(*mine)) or 0)
    if requests >= ctx.settings.account_requests_per_day:
        _audit_attempt(ctx, kind, "request_limit", requests=requests)
        ctx.reply(
            f"You've reached the limit of {ctx.settings.account_requests_per_day} password reset and "
            "unlock requests in 24 hours, which protects your account. Say 'talk to a human' if you "
            "need help now."
        )
        return True
    if _wrong_codes_today(ctx) >= ctx.settings.code_failures_per_day:
        _audit_attempt(ctx, kind, "code_limit")
        ctx.reply(
            "There were too many wrong verification codes for your account in the last 24 hours, so I "
            "can't start another reset or unlock now; this protects your account. Say 'talk to a human' "
            "and a technician will help you."
        )
        return True
    return False


def _unfinished_execution(ctx: Context) -> bool:
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
        if _transition(ctx, request, "interrupted", "executing"):
            _report_interrupted(ctx, request)
    return True


def _report_interrupted(ctx: Context, request: ResetRequest) -> None:
    """Never re-run: the directory may or may not have changed. Say so, and have a technician look."""
    _audit(ctx, request, "interrupted", "unknown_outcome")
    ticket = _ticket_for(
        ctx,
        request,
        "the bot stopped in the middle of the directory change (a crash or restart); check whether the "
        "password was changed or the account unlocked, and that a new password must be changed at logon",
        ctx.speaker.profile,
    )
    request.ticket_id = ticket
    ctx.reply(
        f"Your earlier {_noun(request.kind)} was interrupted on my side, so I can't tell whether it "
        f"changed your account. I've opened ticket #{ticket}; a technician will check it and contact you.",
        ticket=ticket,
    )


def _void_open_requests(ctx: Context) -> None:
    """A new request replaces the person's open ones, so several approvals cannot mean several resets."""
    for request in ctx.session.scalars(
        select(ResetRequest).where(
            ResetRequest.person_email == ctx.speaker.email, ResetRequest.status.in_(OPEN)
        )
    ).all():
        if _transition(ctx, request, "cancelled", *OPEN):
            _audit(ctx, request, "voided", "superseded")


# ---------------------------------------------------------------- verification: email code


@dataclass(frozen=True)
class _EmailCode:
    """Deferred: email the code once the request holding its hash is committed (the code is in memory)."""

    correlation: str
    recovery: str
    code: str = field(repr=False)

    def __call__(self, ctx: Context) -> None:
        _email_code(ctx, self)


def _send_code(ctx: Context, request: ResetRequest, profile: DirectoryPerson) -> None:
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    request.code_hash = _hash(ctx, request.correlation_id, code)  # replaces (voids) any earlier code
    request.code_expires_at = now() + timedelta(seconds=ctx.settings.code_ttl_seconds)
    request.updated_at = now()
    ctx.after_commit(_EmailCode(request.correlation_id, profile.recovery_email or "", code))


def _email_code(ctx: Context, job: _EmailCode) -> None:
    """Send it now: what we tell the person depends on whether the mail server took it."""
    request = _request(ctx, job.correlation)
    if request is None or request.status != "pending":
        return  # cancelled in the meantime: send nothing
    sent = ctx.email_now(
        job.recovery,
        "Your service desk verification code",
        f"Your verification code is {job.code}. It is valid for {ctx.settings.code_ttl_seconds // 60} "
        f"minutes and can be used once.\n\nIf you didn't ask for it, ignore this email and tell "
        f"{ctx.settings.helpdesk_contact}.",
    )
    if sent:
        _audit(ctx, request, "code_sent", "sent", to=_mask(job.recovery))
        ctx.reply(
            f"To check it's really you, I've emailed a {CODE_DIGITS}-digit code to {_mask(job.recovery)}. "
            "Type it here.",
            [Button("account.new_code", "Send a new code"), Button("account.cancel", "Cancel")],
        )
        return
    request.code_hash = ""  # the code never left: nothing may match it
    _audit(ctx, request, "code_not_sent", "email_failed", to=_mask(job.recovery))
    ctx.state.goto("manager_approval")
    _ask_manager(ctx, request, _owner_or_none(ctx, request), because_email_failed=True)


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
        ctx.reply(NO_LONGER_OPEN)
        return
    entered = re.sub(r"\s", "", text)
    if not re.fullmatch(rf"\d{{{CODE_DIGITS}}}", entered):
        ctx.reply(f"Please type the {CODE_DIGITS}-digit code from the email, or 'cancel'.")
        return
    _check_code(ctx, request, entered)


def _check_code(ctx: Context, request: ResetRequest, entered: str) -> None:
    if request.code_expires_at is None or now() > request.code_expires_at:
        _audit(ctx, request, "code_expired", "expired")
        ctx.reply(
            "That code has expired.",
            [Button("account.new_code", "Send a new code"), Button("account.cancel", "Cancel")],
        )
        return
    if not hmac.compare_digest(request.code_hash, _hash(ctx, request.correlation_id, entered)):
        request.attempts += 1
        request.updated_at = now()
        _audit(ctx, request, "code_wrong", "wrong", attempts=request.attempts)
        left = ctx.settings.code_attempts - request.attempts
        if left <= 0 or _wrong_codes_today(ctx) >= ctx.settings.code_failures_per_day:
            _fail_too_many(ctx, request)
        else:
            ctx.reply(f"That code isn't right. {left} {'try' if left == 1 else 'tries'} left.")
        return
    _verified(ctx, request, result="verified")


def _fail_too_many(ctx: Context, request: ResetRequest) -> None:
    request.code_hash = ""
    _transition(ctx, request, "failed", "pending")
    ctx.state.end()
    _audit(ctx, request, "locked_out", "too_many_codes")
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
    if request is None or request.status != "pending":
        ctx.state.end()
        ctx.reply(NO_LONGER_OPEN)
        return
    sent = int(ctx.state.data.get("codes_sent", 1))
    if sent >= MAX_NEW_CODES:
        ctx.reply("I've already sent several codes. Check your spam folder, or say 'talk to a human'.")
        return
    try:
        owner = _owner(ctx, request)
    except DirectoryUnavailable:
        ctx.reply(
            "I can't reach the company directory right now, so I can't send a new code. Try again in a "
            "few minutes, or say 'talk to a human'."
        )
        return
    except DirectoryError as error:
        ctx.state.end()
        _hand_over(ctx, request, f"new code: {error.reason}", status="failed")
        return
    ctx.state.goto("email_code", codes_sent=sent + 1)
    _send_code(ctx, request, owner)


# ---------------------------------------------------------------- verification: manager approval


def _ask_manager(
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
        _hand_over(ctx, request, reason, status="failed")
        return
    assert profile is not None  # a manager was found on it
    request.method, request.approver_email = "manager_approval", manager
    what = _noun(request.kind)
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
    _audit(ctx, request, "approval_requested", "pending", approver=manager)
    lead = (
        "I couldn't email you a verification code, so to check it's really you I've asked your manager, "
        if because_email_failed
        else "To check it's really you, I've asked your manager, "
    )
    ctx.reply(
        f"{lead}{_name(ctx, manager)}, to confirm. I'll continue as soon as they approve "
        f"(the request is valid for {minutes} minutes).",
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
        _audit(ctx, request, f"{decision}_refused", "not_approver")
        ctx.reply("You can't decide on this request: only the person's manager can, and never the person.")
        return
    if request.status != "pending":
        ctx.reply(f"This request was already handled ({request.status}).")
        return
    if now() - request.created_at > timedelta(minutes=ctx.settings.approval_ttl_minutes):
        _transition(ctx, request, "expired", "pending")
        _audit(ctx, request, "approval_expired", "expired")
        ctx.reply("This request has expired, so nothing was done. The person can ask again.")
        ctx.send(
            request.person_email,
            "Your manager's approval came too late, so nothing was changed. "
            "Ask me again if you still need help.",
        )
        return
    _release_requester(ctx, request.person_email)
    if approve:
        if _verified(ctx, request, result="approved"):
            ctx.reply("Approved — thank you.")
        return
    if _transition(ctx, request, "denied", "pending"):
        _audit(ctx, request, "denied", "denied")
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


@action("account.cancel")
def on_cancel(ctx: Context, _: str) -> None:
    if not in_flow(ctx, FLOW):
        return
    request = _request(ctx, ctx.state.data.get("correlation", ""))
    if request is not None and _transition(ctx, request, "cancelled", "pending"):
        _audit(ctx, request, "cancelled", "cancelled")
    ctx.state.end()
    ctx.reply("Cancelled; nothing was changed.")


@on_end(FLOW)
def on_leave(ctx: Context, data: dict[str, Any]) -> None:
    """Whoever walks away ("cancel", another flow, a timeout) leaves nothing a manager could approve."""
    request = _request(ctx, str(data.get("correlation", "")))
    if request is not None and _transition(ctx, request, "cancelled", "pending"):
        _audit(ctx, request, "cancelled", "abandoned")


@action("account.reset")
def on_reset_button(ctx: Context, _: str) -> None:
    start_reset(ctx, "reset my password")


# ---------------------------------------------------------------- acting on the directory


def _verified(ctx: Context, request: ResetRequest, *, result: str) -> bool:
    """Verification passed: commit that, and act after the commit (see the module docstring)."""
    if not _transition(ctx, request, "verified", "pending"):
        ctx.reply(f"This request was already handled ({request.status}).")
        return False
    request.code_hash = ""  # a code is single use
    _audit(ctx, request, "verified", result, method=request.method)
    if ctx.speaker.email == request.person_email:
        ctx.state.end()
    ctx.after_commit(_Claim(request.correlation_id))
    return True


@dataclass(frozen=True)
class _Claim:
    """Deferred: take the verified request for execution, in a transaction committed before acting."""

    correlation: str

    def __call__(self, ctx: Context) -> None:
        request = _request(ctx, self.correlation)
        if request is None or not _transition(ctx, request, "executing", "verified"):
            log.info("account_request_not_claimed", correlation_id=self.correlation)
            return  # another runner has it, or the person started a new request meanwhile
        ctx.after_commit(_Act(self.correlation))


@dataclass(frozen=True)
class _Act:
    """Deferred: the directory write of a claimed request, then its record and replies."""

    correlation: str

    def __call__(self, ctx: Context) -> None:
        request = _request(ctx, self.correlation)
        if request is not None and request.status == "executing":
            _execute(ctx, request)


def _execute(ctx: Context, request: ResetRequest) -> None:
    if request.kind == "reset" and _resets_today(ctx, request.person_email) >= ctx.settings.resets_per_day:
        request.status, request.updated_at = "failed", now()
        _audit(ctx, request, "refused", "limit")
        _tell(
            ctx,
            request,
            _reset_limit_text(ctx),
            f"The reset was not done: {request.person_email} has reached the daily limit of password resets.",
        )
        return
    owner: DirectoryPerson | None = None
    try:
        owner = _owner(ctx, request)
        if request.kind == "reset":
            _reset(ctx, request, owner)
        else:
            _unlock(ctx, request, owner)
    except NotLocked:
        request.status, request.updated_at = "done", now()
        _audit(ctx, request, "not_locked", "nothing_to_do")
        _tell(ctx, request, "Your account isn't locked any more — try signing in again.", "")
    except DirectoryError as error:
        _failed(ctx, request, error, owner)


def _owner(ctx: Context, request: ResetRequest) -> DirectoryPerson:
    """The account the request was made for, read again by its directory id (not by a chat identity)."""
    owner = ctx.services.directory.get(request.account_id) if request.account_id else None
    if owner is None or owner.email != request.person_email:
        raise NotFound("the account is no longer in the directory under this email")
    return owner


def _owner_or_none(ctx: Context, request: ResetRequest) -> DirectoryPerson | None:
    try:
        return _owner(ctx, request)
    except DirectoryError:
        return None


def _reset(ctx: Context, request: ResetRequest, owner: DirectoryPerson) -> None:
    directory = ctx.services.directory
    policy = directory.password_policy()
    avoid = (owner.username, *owner.name.split())  # AD refuses passwords containing the account's names
    password = _temporary_password(policy, avoid)
    try:
        try:
            directory.reset_password(owner, password, must_change=True)
        except PolicyViolation:  # once more: a rare clash with a rule we cannot read (history, dictionary)
            password = _temporary_password(policy, avoid)
            directory.reset_password(owner, password, must_change=True)
    except PartiallyApplied as partial:
        _reset_partly(ctx, request, owner, password, partial)
        return
    # Changed: first put the password in the outbox (delivered even if recording fails), then record.
    _happened(ctx, request, "done", "success", must_change=True)
    _deliver(ctx, owner, password, "You'll be asked to choose a new one when you sign in.")
    request.status, request.updated_at = "done", now()
    _audit(ctx, request, "done", "success", must_change=True)
    _notify_owner(ctx, owner, "Your password was reset")


def _reset_partly(
    ctx: Context, request: ResetRequest, owner: DirectoryPerson, password: str, partial: PartiallyApplied
) -> None:
    """The password changed but a later step did not: hand it over honestly and have a technician finish."""
    steps = [step for step in partial.unfinished if step in _UNFINISHED] or ["must_change"]
    _happened(ctx, request, "partial", "partial", unfinished=steps)
    caveats = "; and ".join(_UNFINISHED[step][0] for step in steps)
    _deliver(ctx, owner, password, f"I couldn't finish every step: {caveats}.")
    request.status, request.updated_at = "partial", now()
    _audit(ctx, request, "partial", "partial", unfinished=steps, reason=partial.reason)
    fix = " and ".join(_UNFINISHED[step][1] for step in steps)
    ticket = _ticket_for(
        ctx, request, f"PARTLY DONE — the password WAS reset, but {partial.reason}. Please {fix}.", owner
    )
    request.ticket_id = ticket
    ctx.send(
        owner.email,
        f"I've opened ticket #{ticket} so a technician can finish the reset of your account.",
        ticket=ticket,
    )
    _notify_owner(ctx, owner, "Your password was reset")


def _unlock(ctx: Context, request: ResetRequest, owner: DirectoryPerson) -> None:
    ctx.services.directory.unlock(owner)
    _happened(ctx, request, "done", "success")
    ctx.send(owner.email, "Your account is unlocked — your password is unchanged. Try signing in again.")
    request.status, request.updated_at = "done", now()
    _audit(ctx, request, "done", "success")
    _notify_owner(ctx, owner, "Your account was unlocked")


def _temporary_password(policy: PasswordPolicy, avoid: tuple[str, ...]) -> str:
    password = generate_temporary_password(policy, avoid=avoid)
    register_secret(password)  # redacted from every log line from now on
    return password


def _deliver(ctx: Context, owner: DirectoryPerson, password: str, note: str) -> None:
    minutes = ctx.settings.secret_ttl // 60
    ctx.send(
        owner.email,
        f"Your temporary password is: {password}\n{note} For your safety this message disappears in "
        f"{minutes} minutes.",
        secret=password,
        delete_after=ctx.settings.secret_ttl,
    )


def _happened(ctx: Context, request: ResetRequest, step: str, result: str, **detail: object) -> None:
    """The directory changed: from now on what the outbox says is delivered even if the commit fails."""
    ctx.outbox.happened(
        actor=ctx.speaker.email,
        action=f"{request.kind}.{step}",
        target=request.person_email,
        result=result,
        correlation_id=request.correlation_id,
        **detail,
    )


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
    ctx: Context, request: ResetRequest, reason: str, *, down: bool = False, status: str = "refused"
) -> None:
    """Refuse in the same words whatever the reason; the technician gets the reason in a ticket."""
    _close(ctx, request, "failed" if down else status, "refused", "handed_over", reason=reason)
    ticket = _ticket_for(ctx, request, reason, ctx.speaker.profile)
    request.ticket_id = ticket
    if down:
        ctx.reply(
            f"I can't reach the company directory right now, so I can't {_verb(request.kind)} your "
            f"account. I've opened ticket #{ticket} so a technician can help.",
            ticket=ticket,
        )
    else:
        ctx.reply(REFUSAL.format(verb=_verb(request.kind), ticket=ticket), ticket=ticket)


def _failed(
    ctx: Context, request: ResetRequest, error: DirectoryError, owner: DirectoryPerson | None
) -> None:
    request.status, request.updated_at = "failed", now()
    _audit(ctx, request, "failed", type(error).__name__, reason=error.reason)
    ticket = _ticket_for(ctx, request, f"automation failed: {error.reason}", owner)
    request.ticket_id = ticket
    if isinstance(error, DirectoryUnavailable):  # a write may have been under way: claim nothing
        lead = f"I couldn't reach the company directory to finish the {_noun(request.kind)}."
    else:
        lead = f"The directory refused the {_noun(request.kind)}, so nothing was changed."
    _tell(
        ctx,
        request,
        f"{lead} I've opened ticket #{ticket}; a technician will contact you.",
        f"The {_noun(request.kind)} you approved could not be done automatically; I've opened ticket "
        f"#{ticket} and told {request.person_email}.",
        ticket=ticket,
    )


def _tell(ctx: Context, request: ResetRequest, to_owner: str, to_approver: str, **extra: Any) -> None:
    """The outcome goes to the account's owner, and to whoever approved it if that is someone else."""
    ctx.send(request.person_email, to_owner, **extra)
    if to_approver and ctx.speaker.email != request.person_email:
        ctx.reply(to_approver, **extra)


def _ticket_for(ctx: Context, request: ResetRequest, reason: str, owner: DirectoryPerson | None) -> int:
    what = _noun(request.kind)
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


# ---------------------------------------------------------------- small helpers


def _asks_for_someone_else(ctx: Context, text: str) -> bool:
    """Names an account that is not the speaker's: an email, a possessive, a username after the verb."""
    own = _own_names(ctx)
    emails = {m.group(0).lower() for m in _EMAIL.finditer(text)}
    if emails - own:
        return True
    if _SOMEONE_ELSE.search(text):
        return True
    named = {m.group(1).lower().strip(".-") for pattern in _NAMED_ACCOUNT for m in pattern.finditer(text)}
    return any(name and name not in _NOT_A_PERSON and name not in own for name in named)


def _own_names(ctx: Context) -> set[str]:
    """Every way the speaker might name themselves: email, its local part and pieces, username, names."""
    speaker = ctx.speaker
    local = speaker.email.split("@")[0]
    names = {speaker.email, local, *re.split(r"[._+-]", local), *speaker.name.split()}
    if speaker.profile is not None:
        names |= {speaker.profile.email, speaker.profile.username, *speaker.profile.name.split()}
    return {name.lower() for name in names if name}


def _resets_today(ctx: Context, email: str) -> int:
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


def _wrong_codes_today(ctx: Context) -> int:
    since = now() - timedelta(hours=24)
    return int(
        ctx.session.scalar(
            select(func.coalesce(func.sum(ResetRequest.attempts), 0)).where(
                ResetRequest.person_email == ctx.speaker.email, ResetRequest.created_at >= since
            )
        )
        or 0
    )


def _reset_limit_text(ctx: Context) -> str:
    return (
        f"You've reached the limit of {ctx.settings.resets_per_day} password resets in 24 hours, "
        "which protects your account. Say 'talk to a human' if you need help now."
    )


def _request(ctx: Context, correlation: str) -> ResetRequest | None:
    if not correlation:
        return None
    return ctx.session.scalars(select(ResetRequest).where(ResetRequest.correlation_id == correlation)).first()


def _transition(ctx: Context, request: ResetRequest, to: str, *allowed_from: str) -> bool:
    """Move the request to `to` only if it is still in one of `allowed_from`: one conditional UPDATE,
    so concurrent events (two approvals, a cancel racing an approval) cannot both win."""
    changed = ctx.session.execute(
        update(ResetRequest)
        .where(ResetRequest.id == request.id, ResetRequest.status.in_(allowed_from))
        .values(status=to, updated_at=now())
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    ctx.session.refresh(request)
    return bool(changed == 1)


def _close(
    ctx: Context, request: ResetRequest, status: str, step: str, result: str, **detail: object
) -> None:
    request.status, request.updated_at = status, now()
    _audit(ctx, request, step, result, **detail)


def _audit(ctx: Context, request: ResetRequest, step: str, result: str, **detail: object) -> None:
    """Target is always the account's owner, whoever acts (the person, or the approving manager)."""
    audit.record(
        ctx.session,
        actor=ctx.speaker.email,
        action=f"{request.kind}.{step}",
        target=request.person_email,
        result=result,
        correlation_id=request.correlation_id,
        **detail,
    )


def _audit_attempt(ctx: Context, kind: str, result: str, **detail: object) -> None:
    """An attempt stopped before it became a request (a limit)."""
    audit.record(
        ctx.session,
        actor=ctx.speaker.email,
        action=f"{kind}.refused",
        target=ctx.speaker.email,
        result=result,
        correlation_id=uuid.uuid4().hex,
        **detail,
    )


def _hash(ctx: Context, correlation: str, code: str) -> str:
    """HMAC with a server-side key: a 6-digit code's hash alone cannot be reversed by trying them all."""
    return hmac.new(_code_key(ctx), f"{correlation}:{code}".encode(), hashlib.sha256).hexdigest()


def _code_key(ctx: Context) -> bytes:
    configured = ctx.settings.secret_key.get_secret_value()
    return configured.encode() if configured else _stored_key(ctx.session, CODE_KEY_NAME)


def _stored_key(session: Session, name: str) -> bytes:
    """The generated key `name`, created on first use. It lives in the database rather than a file so
    every instance and every restart share it on SQLite and PostgreSQL alike (pending codes survive)."""
    row = session.get(ServerKey, name)
    if row is None:
        try:
            with session.begin_nested():
                session.add(ServerKey(name=name, value=secrets.token_hex(32), created_at=now()))
        except IntegrityError:
            pass  # another instance created it at the same moment: use theirs
        row = session.get(ServerKey, name)
        assert row is not None
    return bytes.fromhex(row.value)


def _mask(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}{'*' * max(2, len(local) - 1)}@{domain}" if domain else "your recovery address"


def _name(ctx: Context, email: str) -> str:
    return tickets.display_name(ctx, email)


def _noun(kind: str) -> str:
    return "password reset" if kind == "reset" else "account unlock"


def _verb(kind: str) -> str:
    return "reset the password of" if kind == "reset" else "unlock"
