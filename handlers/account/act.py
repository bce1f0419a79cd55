"""Acting on the directory once a request is verified: commit, then act.

The handler commits the request as `verified` and defers the work; `_Claim` then takes it
(`verified` → `executing`, one conditional UPDATE, so of two runners exactly one acts) in a transaction
of its own, and `_Act` writes the directory in the next. The outcome goes to the account's owner —
the temporary password once, as a secret — and the owner is emailed that it happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from automations.directory import (
    DirectoryError,
    DirectoryPerson,
    DirectoryUnavailable,
    NotLocked,
    PartiallyApplied,
    PasswordPolicy,
    PolicyViolation,
    UnlockUnsupported,
)
from automations.passwords import generate_temporary_password
from bot.clock import now
from bot.logs import register_secret
from bot.store.models import ResetRequest
from handlers.account.handover import ticket_for
from handlers.account.limits import reset_limit_text, resets_today
from handlers.account.records import (
    NO_UNLOCK,
    NO_UNLOCK_OPTIONS,
    audit_entry,
    audit_step,
    close,
    find_request,
    noun,
    read_owner,
    transition,
)
from handlers.context import Context

log = structlog.get_logger("handlers.account")  # the package's logger name, as before it was split

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
    "revoke_sessions": (
        "devices still signed in to your account were not signed out, so a technician will do that",
        "revoke the account's sign-in sessions",
    ),
}


def verified(ctx: Context, request: ResetRequest, *, result: str) -> bool:
    """Verification passed: commit that, and act after the commit (see the package docstring)."""
    if not transition(ctx, request, "verified", "pending"):
        ctx.reply(f"This request was already handled ({request.status}).")
        return False
    request.code_hash = ""  # a code is single use
    audit_step(ctx, request, "verified", result, method=request.method)
    if ctx.speaker.email == request.person_email:
        ctx.state.end()
    ctx.after_commit(_Claim(request.correlation_id))
    return True


@dataclass(frozen=True)
class _Claim:
    """Deferred: take the verified request for execution, in a transaction committed before acting."""

    correlation: str

    def __call__(self, ctx: Context) -> None:
        request = find_request(ctx, self.correlation)
        if request is None or not transition(ctx, request, "executing", "verified"):
            log.info("account_request_not_claimed", correlation_id=self.correlation)
            return  # another runner has it, or the person started a new request meanwhile
        ctx.after_commit(_Act(self.correlation))


@dataclass(frozen=True)
class _Act:
    """Deferred: the directory write of a claimed request, then its record and replies."""

    correlation: str

    def __call__(self, ctx: Context) -> None:
        request = find_request(ctx, self.correlation)
        if request is not None and request.status == "executing":
            _execute(ctx, request)


def _execute(ctx: Context, request: ResetRequest) -> None:
    if request.kind == "reset" and resets_today(ctx, request.person_email) >= ctx.settings.resets_per_day:
        close(ctx, request, "failed", "refused", "limit")
        _tell(
            ctx,
            request,
            reset_limit_text(ctx),
            f"The reset was not done: {request.person_email} has reached the daily limit of password resets.",
        )
        return
    owner: DirectoryPerson | None = None
    try:
        owner = read_owner(ctx, request)
        if request.kind == "reset":
            _reset(ctx, request, owner)
        else:
            _unlock(ctx, request, owner)
    except UnlockUnsupported:  # a directory that cannot unlock, found out only now
        close(ctx, request, "failed", "refused", "unlock_unsupported")
        ctx.send(request.person_email, NO_UNLOCK, list(NO_UNLOCK_OPTIONS))
    except NotLocked:
        close(ctx, request, "done", "not_locked", "nothing_to_do")
        _tell(ctx, request, "Your account isn't locked any more — try signing in again.", "")
    except DirectoryError as error:
        _failed(ctx, request, error, owner)


def _reset(ctx: Context, request: ResetRequest, owner: DirectoryPerson) -> None:
    directory = ctx.services.directory
    policy = directory.password_policy()
    avoid = (owner.username, *owner.name.split())  # AD refuses passwords containing the account's names
    password = _temporary_password(ctx, policy, avoid)
    try:
        try:
            directory.reset_password(owner, password, must_change=True)
        except PolicyViolation:  # once more: a rare clash with a rule we cannot read (history, dictionary)
            password = _temporary_password(ctx, policy, avoid)
            directory.reset_password(owner, password, must_change=True)
    except PartiallyApplied as partial:
        _reset_partly(ctx, request, owner, password, partial)
        return
    # Changed: first put the password in the outbox (delivered even if recording fails), then record.
    _deliver(ctx, owner, password, "You'll be asked to choose a new one when you sign in.")
    _changed(ctx, request, "done", "success", must_change=True)
    _notify_owner(ctx, owner, "Your password was reset")


def _reset_partly(
    ctx: Context, request: ResetRequest, owner: DirectoryPerson, password: str, partial: PartiallyApplied
) -> None:
    """The password changed but a later step did not: hand it over honestly and have a technician finish."""
    steps = [step for step in partial.unfinished if step in _UNFINISHED] or ["must_change"]
    caveats = "; and ".join(_UNFINISHED[step][0] for step in steps)
    _deliver(ctx, owner, password, f"I couldn't finish every step: {caveats}.")
    _changed(ctx, request, "partial", "partial", unfinished=steps, reason=partial.reason)
    fix = " and ".join(_UNFINISHED[step][1] for step in steps)
    ticket = ticket_for(
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
    ctx.send(owner.email, "Your account is unlocked — your password is unchanged. Try signing in again.")
    _changed(ctx, request, "done", "success")
    _notify_owner(ctx, owner, "Your account was unlocked")


def _temporary_password(ctx: Context, policy: PasswordPolicy, avoid: tuple[str, ...]) -> str:
    password = generate_temporary_password(policy, avoid=avoid)
    # Redacted from every log line while it can still be on a screen, then forgotten.
    register_secret(password, ttl_seconds=ctx.settings.secret_ttl)
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


def _changed(ctx: Context, request: ResetRequest, status: str, result: str, **detail: object) -> None:
    """The directory changed: what the outbox says from now on is delivered even if the commit fails
    (the audit entry is then logged instead), and the request is closed with `status`."""
    ctx.outbox.happened(**audit_entry(ctx, request, status, result, **detail))
    close(ctx, request, status, status, result, **detail)


def _notify_owner(ctx: Context, owner: DirectoryPerson, what: str) -> None:
    """The second channel: the owner hears about it by email, so a hijacked chat cannot stay hidden."""
    ctx.email(
        owner.email,
        what,
        f"{what} through the service desk chat at {now():%Y-%m-%d %H:%M} UTC.\n\n"
        f"If this wasn't you, contact {ctx.settings.helpdesk_contact} right away.",
    )


def _failed(
    ctx: Context, request: ResetRequest, error: DirectoryError, owner: DirectoryPerson | None
) -> None:
    close(ctx, request, "failed", "failed", type(error).__name__, reason=error.reason)
    ticket = ticket_for(
        ctx,
        request,
        f"automation failed: {error.reason}",
        owner,
        directory_down=isinstance(error, DirectoryUnavailable),
    )
    request.ticket_id = ticket
    if isinstance(error, DirectoryUnavailable):  # a write may have been under way: claim nothing
        lead = f"I couldn't reach the company directory to finish the {noun(request.kind)}."
    else:
        lead = f"The directory refused the {noun(request.kind)}, so nothing was changed."
    _tell(
        ctx,
        request,
        f"{lead} I've opened ticket #{ticket}; a technician will contact you.",
        f"The {noun(request.kind)} you approved could not be done automatically; I've opened ticket "
        f"#{ticket} and told {request.person_email}.",
        ticket=ticket,
    )


def _tell(ctx: Context, request: ResetRequest, to_owner: str, to_approver: str, **extra: Any) -> None:
    """The outcome goes to the account's owner, and to whoever approved it if that is someone else."""
    ctx.send(request.person_email, to_owner, **extra)
    if to_approver and ctx.speaker.email != request.person_email:
        ctx.reply(to_approver, **extra)
