"""Where a request starts: the entry points, the checks on whose account it is and whether automation may
touch it, and the choice of verification.

Everything here happens before any write to the directory. Refusals of the account itself (unknown,
disabled, protected) are handed over in the same words, so nobody learns which accounts exist.
"""

from __future__ import annotations

import re
import uuid
from contextlib import suppress

from automations.directory import (
    AccountStatus,
    DirectoryError,
    DirectoryPerson,
    DirectoryUnavailable,
    can_unlock,
)
from bot.clock import now
from bot.messages import Button
from bot.store.models import ResetRequest
from handlers import new_ticket
from handlers.account.act import verified
from handlers.account.approval import ask_manager
from handlers.account.code import send_code
from handlers.account.handover import hand_over
from handlers.account.limits import (
    over_limits,
    reset_limit_text,
    resets_today,
    unfinished_execution,
    void_open_requests,
)
from handlers.account.records import FLOW, NO_UNLOCK, NO_UNLOCK_OPTIONS, audit_step, close, verb
from handlers.context import Context
from handlers.registry import action

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


def start_reset(ctx: Context, text: str) -> None:
    _start(ctx, text, kind="reset")


def start_unlock(ctx: Context, text: str) -> None:
    _start(ctx, text, kind="unlock")


@action("account.reset")
def on_reset_button(ctx: Context, _: str) -> None:
    start_reset(ctx, "reset my password")


@action("account.unlock_ticket")
def on_unlock_ticket_button(ctx: Context, _: str) -> None:
    """Offered where the directory cannot unlock: a technician looks at the lockout."""
    new_ticket.start(
        ctx,
        problem="My account is locked and I can't sign in.",
        category="unlock",
        transcript="Asked in chat to unlock the account; the directory has no unlock the bot can use.",
    )


def _start(ctx: Context, text: str, kind: str) -> None:
    if unfinished_execution(ctx) or over_limits(ctx, kind):
        return
    void_open_requests(ctx)
    request = _new_request(ctx, kind)
    if _asks_for_someone_else(ctx, text):
        close(ctx, request, "refused", "refused", "someone_else")
        ctx.reply(
            f"I can only {verb(kind)} your own account. The person it belongs to can ask me "
            "themselves, or a technician can help — say 'talk to a human'."
        )
        return
    eligible = _eligible(ctx, request)
    if eligible is None:
        return
    profile, status = eligible
    request.account_id = profile.id
    if kind == "reset" and resets_today(ctx, request.person_email) >= ctx.settings.resets_per_day:
        close(ctx, request, "refused", "refused", "limit")
        ctx.reply(reset_limit_text(ctx))
        return
    if kind == "unlock" and not can_unlock(ctx.services.directory):
        close(ctx, request, "refused", "refused", "unlock_unsupported")
        ctx.reply(NO_UNLOCK, list(NO_UNLOCK_OPTIONS))
        return
    if kind == "unlock" and not status.locked:
        close(ctx, request, "refused", "not_locked", "nothing_to_do")
        ctx.reply(
            "Your account isn't locked, so there's nothing to unlock. If you've forgotten your password, "
            "I can reset it.",
            [Button("account.reset", "Reset my password", "primary")],
        )
        return
    request.method = _method(ctx, kind, profile)
    audit_step(ctx, request, "requested", "pending", method=request.method)
    ctx.state.start(FLOW, request.method, correlation=request.correlation_id, kind=kind)
    if request.method == "email_code":
        send_code(ctx, request, profile)
    elif request.method == "manager_approval":
        ask_manager(ctx, request, profile)
    else:
        verified(ctx, request, result="verified")


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


def _eligible(ctx: Context, request: ResetRequest) -> tuple[DirectoryPerson, AccountStatus] | None:
    """The speaker's own directory account and its status, if automation may touch it; else a ticket."""
    speaker = ctx.speaker
    if speaker.is_guest:
        close(ctx, request, "refused", "refused", "guest")
        ctx.reply(
            "I can't reset or unlock guest and external accounts. Please contact your host at the "
            "company, or the service desk."
        )
        return None
    if speaker.directory_down:
        hand_over(ctx, request, "directory unavailable", down=True)
        return None
    if speaker.profile is None:
        _decoy_status_read(ctx)
        hand_over(ctx, request, "no directory account for the chat identity")
        return None
    try:
        status = ctx.services.directory.account_status(speaker.profile)
    except DirectoryUnavailable:
        hand_over(ctx, request, "directory unavailable", down=True)
        return None
    except DirectoryError as error:
        hand_over(ctx, request, error.reason)
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
        hand_over(ctx, request, reason)
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
