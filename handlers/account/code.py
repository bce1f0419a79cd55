"""Verification by a code emailed to the person's recovery address.

Only a keyed hash of the code is stored (HMAC with a server-side key), so a 6-digit code cannot be
recovered from the database by trying them all. The code is emailed after the request holding its hash is
committed; if the mail server refuses it, the request falls back to the manager's approval.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from automations.directory import DirectoryError, DirectoryPerson, DirectoryUnavailable
from bot.clock import now
from bot.messages import Button
from bot.store.models import ResetRequest, ServerKey
from handlers.account.act import verified
from handlers.account.approval import ask_manager
from handlers.account.handover import hand_over
from handlers.account.limits import wrong_codes_today
from handlers.account.records import (
    FLOW,
    audit_step,
    find_request,
    read_owner,
    read_owner_or_none,
    transition,
)
from handlers.context import Context
from handlers.registry import action, flow, in_flow

CODE_DIGITS = 6
MAX_NEW_CODES = 3
CODE_KEY_NAME = "reset_codes"
# Tells the platform that digits typed next are the code, not the number of a button (bot.messages.Reply).
CODE_HINT = "code"
NO_LONGER_OPEN = "That request is no longer open. Ask me again if you still need help."


@dataclass(frozen=True)
class _EmailCode:
    """Deferred: email the code once the request holding its hash is committed (the code is in memory)."""

    correlation: str
    recovery: str
    code: str = field(repr=False)

    def __call__(self, ctx: Context) -> None:
        _email_code(ctx, self)


def send_code(ctx: Context, request: ResetRequest, profile: DirectoryPerson) -> None:
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    request.code_hash = _hash(ctx, request.correlation_id, code)  # replaces (voids) any earlier code
    request.code_expires_at = now() + timedelta(seconds=ctx.settings.code_ttl_seconds)
    request.updated_at = now()
    ctx.after_commit(_EmailCode(request.correlation_id, profile.recovery_email or "", code))


def _email_code(ctx: Context, job: _EmailCode) -> None:
    """Send it now: what we tell the person depends on whether the mail server took it."""
    request = find_request(ctx, job.correlation)
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
        audit_step(ctx, request, "code_sent", "sent", to=_mask(job.recovery))
        ctx.reply(
            f"To check it's really you, I've emailed a {CODE_DIGITS}-digit code to {_mask(job.recovery)}. "
            "Type it here.",
            [Button("account.new_code", "Send a new code"), Button("account.cancel", "Cancel")],
            input_hint=CODE_HINT,
        )
        return
    request.code_hash = ""  # the code never left: nothing may match it
    audit_step(ctx, request, "code_not_sent", "email_failed", to=_mask(job.recovery))
    ctx.state.goto("manager_approval")
    ask_manager(ctx, request, read_owner_or_none(ctx, request), because_email_failed=True)


@flow(FLOW, called="your password reset or unlock")
def on_text(ctx: Context, text: str) -> None:
    if ctx.state.step != "email_code":
        ctx.reply(
            "I'm waiting for your manager's approval; I'll tell you as soon as they answer. "
            "Say 'cancel' to stop."
        )
        return
    request = _pending_request(ctx)
    if request is None:
        return
    entered = re.sub(r"\s", "", text)
    if not re.fullmatch(rf"\d{{{CODE_DIGITS}}}", entered):
        ctx.reply(
            f"Please type the {CODE_DIGITS}-digit code from the email, or 'cancel'.", input_hint=CODE_HINT
        )
        return
    _check_code(ctx, request, entered)


def _pending_request(ctx: Context) -> ResetRequest | None:
    """The request this conversation is verifying, if still open; otherwise end the flow and say so."""
    request = find_request(ctx, ctx.state.data.get("correlation", ""))
    if request is None or request.status != "pending":
        ctx.state.end()
        ctx.reply(NO_LONGER_OPEN)
        return None
    return request


def _check_code(ctx: Context, request: ResetRequest, entered: str) -> None:
    if request.code_expires_at is None or now() > request.code_expires_at:
        audit_step(ctx, request, "code_expired", "expired")
        ctx.reply(
            "That code has expired.",
            [Button("account.new_code", "Send a new code"), Button("account.cancel", "Cancel")],
            input_hint=CODE_HINT,
        )
        return
    if not hmac.compare_digest(request.code_hash, _hash(ctx, request.correlation_id, entered)):
        request.attempts += 1
        request.updated_at = now()
        audit_step(ctx, request, "code_wrong", "wrong", attempts=request.attempts)
        left = ctx.settings.code_attempts - request.attempts
        if left <= 0 or wrong_codes_today(ctx) >= ctx.settings.code_failures_per_day:
            _fail_too_many(ctx, request)
        else:
            ctx.reply(
                f"That code isn't right. {left} {'try' if left == 1 else 'tries'} left.", input_hint=CODE_HINT
            )
        return
    verified(ctx, request, result="verified")


def _fail_too_many(ctx: Context, request: ResetRequest) -> None:
    request.code_hash = ""
    transition(ctx, request, "failed", "pending")
    ctx.state.end()
    audit_step(ctx, request, "locked_out", "too_many_codes")
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
    request = _pending_request(ctx)
    if request is None:
        return
    sent = int(ctx.state.data.get("codes_sent", 1))
    if sent >= MAX_NEW_CODES:
        ctx.reply("I've already sent several codes. Check your spam folder, or say 'talk to a human'.")
        return
    try:
        owner = read_owner(ctx, request)
    except DirectoryUnavailable:
        ctx.reply(
            "I can't reach the company directory right now, so I can't send a new code. Try again in a "
            "few minutes, or say 'talk to a human'."
        )
        return
    except DirectoryError as error:
        ctx.state.end()
        hand_over(ctx, request, f"new code: {error.reason}", status="failed")
        return
    ctx.state.goto("email_code", codes_sent=sent + 1)
    send_code(ctx, request, owner)


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
