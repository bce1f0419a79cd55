"""Grants always end: at expiry, when the person says they're done, or when a technician revokes them.

Ending a grant removes the membership — unless the person had it before the request (`pre_existing`), which
the bot never removes. Removal is idempotent ("not a member" counts as done), so the reconciler may run it
again after a crash or a failed commit. A failed removal is retried with back-off (`next_attempt_at`), and
technicians are told after FRONTDESK_ACCESS_REMOVAL_ALERT_ATTEMPTS failures. The reconciler reads only the
grants that are due, through the `ix_access_grants_due` index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select

from automations.directory import DirectoryError, DirectoryPerson
from bot.clock import now
from bot.messages import Button
from bot.store.models import AccessGrant, AccessRequest
from handlers import arguments
from handlers.access.records import (
    active_grants,
    audit_grant,
    catalog,
    directory_person,
    entry_name,
    pending_requests,
    technicians,
    until,
)
from handlers.context import Context
from handlers.registry import action

log = structlog.get_logger(__name__)
SWEEP_BATCH = 2000  # due grants handled per run; the rest wait a minute
BACKOFF_SECONDS = (60, 300, 900, 3600)
STUCK_MINUTES = 10  # an approved or granting request untouched this long was interrupted by a crash

_MY_ACCESS = re.compile(
    r"^\s*((what|which) access (do i have|have i got)|my access( grants)?|my grants|"
    r"my (access )?requests)\s*[?.!]*$",
    re.I,
)
_DONE = re.compile(
    r"^\s*(i'?m|i am)?\s*(done|finished) with (?P<what>.+?)\s*[.!]*$"
    r"|^\s*(give back|release) (?P<what2>.+?)\s*[.!]*$",
    re.I,
)
_EXTEND = re.compile(r"^\s*extend (?P<what>.+?)\s*[.!?]*$", re.I)
_REVOKE = re.compile(r"^\s*revoke access #?(?P<id>\d+)\b[\s:,.-]*(?P<reason>.*)$", re.I | re.S)
# Plainly asking for access ("I need access to …", "add me to …"); "how do I get to the VPN" is not.
_NEED = re.compile(
    r"\b(need|want|request|requesting|get|give me|grant me)\b[^.?!]*\bac+es+\b|\badd me to\b", re.I
)


def is_command(ctx: Context, text: str) -> bool:
    """Whether `text` is, word for word, an access command that answers at once ("my access", "my
    requests", a technician's "revoke access 3 …") — never prose that merely mentions access."""
    return catalog(ctx) is not None and bool(_MY_ACCESS.match(text) or _REVOKE.match(text))


def is_request(ctx: Context, text: str) -> bool:
    """Whether `text` plainly asks for something about access: an access command, or a need for access
    that the catalogue recognises ("I need access to the finance share")."""
    access = catalog(ctx)
    if access is None:
        return False
    return is_command(ctx, text) or bool(_NEED.search(text) and access.match(text))


def try_command(ctx: Context, text: str) -> bool:
    """The access commands in plain words; False when `text` is none of them."""
    if catalog(ctx) is None:
        return False
    if _MY_ACCESS.match(text):
        show_my_access(ctx)
        return True
    revoke = _REVOKE.match(text)
    if revoke:
        _revoke(ctx, revoke["id"], revoke["reason"].strip())
        return True
    done = _DONE.match(text)
    if done and _release(ctx, done["what"] or done["what2"] or ""):
        return True
    extend = _EXTEND.match(text)
    if extend:
        return _extend(ctx, extend["what"])
    if _NEED.search(text) and catalog(ctx) and catalog(ctx).match(text):  # type: ignore[union-attr]
        from handlers.access.request import start_request

        start_request(ctx, text)
        return True
    return False


def show_my_access(ctx: Context) -> None:
    email = ctx.speaker.email
    lines = [
        f"• {entry_name(ctx, g.entry_id)} — {until(g.expires_at)}"
        + (" (you had it before)" if g.pre_existing else "")
        for g in active_grants(ctx.session, email)
    ]
    waiting = [
        f"• {entry_name(ctx, r.entry_id)} — {r.status}, asked {r.created_at:%Y-%m-%d %H:%M} UTC"
        for r in pending_requests(ctx.session, email)
    ]
    if not lines and not waiting:
        ctx.reply("You have no access granted through me and no requests waiting.")
        return
    parts = []
    if lines:
        parts.append("Access granted through me:\n" + "\n".join(lines))
    if waiting:
        parts.append("Requests waiting:\n" + "\n".join(waiting))
    ctx.reply("\n".join(parts))


def _release(ctx: Context, what: str) -> bool:
    """ "I'm done with finance": end the matching grant now (False when nothing of theirs matches)."""
    access = catalog(ctx)
    grants = active_grants(ctx.session, ctx.speaker.email)
    if access is None or not grants:
        return False
    wanted = {entry.id for entry in access.match(what)}
    found = [g for g in grants if g.entry_id in wanted]
    if not found:
        return False
    for grant in found:
        end_now(ctx, grant, "released by the person")
    ctx.reply(
        f"OK, I'm removing your {entry_name(ctx, found[0].entry_id)} access now. Thanks for giving it back."
    )
    return True


def _extend(ctx: Context, what: str) -> bool:
    access = catalog(ctx)
    matches = access.match(what) if access else []
    if not matches:
        return False
    from handlers.access.request import begin

    begin(ctx, matches[0], extending=True)
    return True


def _revoke(ctx: Context, grant_id: str, reason: str) -> None:
    if not ctx.speaker.is_technician:
        ctx.reply("Only technicians can revoke someone's access.")
        return
    number = arguments.record_id(grant_id)
    grant = ctx.session.get(AccessGrant, number) if number else None
    if grant is None or grant.status != "active":
        ctx.reply(f"There is no active access grant #{grant_id}.")
        return
    if not reason:
        ctx.reply(f"Say why: revoke access {grant.id} REASON (the person will see it).")
        return
    audit_grant(ctx, grant, "revoke_requested", "pending")
    end_now(ctx, grant, f"revoked by {ctx.speaker.name}: {reason[:150]}")
    ctx.reply(f"Revoking grant #{grant.id} ({entry_name(ctx, grant.entry_id)} for {grant.person_email}) now.")


def end_now(ctx: Context, grant: AccessGrant, reason: str) -> None:
    """Make the grant due now and remove it once this event is committed."""
    grant.expires_at = grant.next_attempt_at = now()
    grant.end_reason = reason
    ctx.after_commit(_RemoveNow(grant.id))


@dataclass(frozen=True)
class _RemoveNow:
    grant_id: int

    def __call__(self, ctx: Context) -> None:
        grant = ctx.session.get(AccessGrant, self.grant_id)
        if grant is not None and grant.status == "active":
            remove(ctx, grant)


# --- the reconciler -----------------------------------------------------------------------------------


def due_grants(ctx: Context, limit: int = SWEEP_BATCH) -> list[AccessGrant]:
    return list(
        ctx.session.scalars(
            select(AccessGrant)
            .where(AccessGrant.status == "active", AccessGrant.next_attempt_at <= now())
            .order_by(AccessGrant.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def reconcile_grants(ctx: Context) -> None:
    """Every grant past its end that is still there is removed (the bot was down, a removal failed)."""
    for grant in due_grants(ctx):
        remove(ctx, grant)


def remove(ctx: Context, grant: AccessGrant) -> None:
    name = entry_name(ctx, grant.entry_id)
    reason = grant.end_reason or "expired"
    if grant.pre_existing:
        _ended(ctx, grant, reason, removed=False)
        ctx.send(
            grant.person_email,
            f"The access to {name} you asked me for has ended; you keep the membership you had before.",
        )
        return
    try:
        removed = ctx.services.directory.remove_member(_person(ctx, grant), grant.group)
    except DirectoryError as error:
        _removal_failed(ctx, grant, error.reason)
        return
    _ended(ctx, grant, reason, removed=removed)
    why = "it expired" if reason == "expired" else reason
    ctx.send(grant.person_email, f"Your access to {name} has ended ({why}). Ask me again if you need it.")
    ctx.email(grant.person_email, f"Access ended: {name}", f"Your access to {name} has ended ({why}).")


def _person(ctx: Context, grant: AccessGrant) -> DirectoryPerson:
    person = directory_person(ctx, grant.person_id, grant.person_email)
    if person is None:
        raise DirectoryError("the account is no longer in the directory under this email")
    return person


def _ended(ctx: Context, grant: AccessGrant, reason: str, *, removed: bool) -> None:
    moment = now()
    grant.status, grant.ended_at, grant.end_reason = "ended", moment, reason
    grant.next_attempt_at = None
    step = "expired" if reason == "expired" else "ended"
    audit_grant(ctx, grant, step, "removed" if removed else "kept" if grant.pre_existing else "absent")


def _removal_failed(ctx: Context, grant: AccessGrant, reason: str) -> None:
    grant.removal_attempts += 1
    grant.last_error = reason[:500]
    wait = BACKOFF_SECONDS[min(grant.removal_attempts - 1, len(BACKOFF_SECONDS) - 1)]
    grant.next_attempt_at = now() + timedelta(seconds=wait)
    audit_grant(ctx, grant, "removal_failed", "retry", attempts=grant.removal_attempts, reason=reason[:300])
    log.warning("access_removal_failed", grant=grant.id, attempts=grant.removal_attempts, reason=reason)
    if grant.removal_attempts == ctx.settings.access_removal_alert_attempts:
        text = (
            f"I couldn't remove {grant.person_email} from {grant.group} (grant #{grant.id}, ended "
            f"{grant.expires_at:%Y-%m-%d %H:%M} UTC) after {grant.removal_attempts} tries: {reason}. "
            "I keep retrying; please check the directory."
        )
        ctx.triage(text, [Button(f"access.show:{grant.id}", "Details")])
        for technician in technicians(ctx):
            ctx.send(technician, text)
        audit_grant(ctx, grant, "removal_alerted", "technicians_told")


@action("access.show")
def on_show(ctx: Context, grant_id: str) -> None:
    number = arguments.record_id(grant_id)
    grant = ctx.session.get(AccessGrant, number) if number and ctx.speaker.is_technician else None
    if grant is None:
        ctx.reply("There is no such access grant (or it is not yours to see).")
        return
    ctx.reply(
        f"Grant #{grant.id}: {grant.person_email} in {grant.group}, {grant.status}, ends "
        f"{until(grant.expires_at)}; removal attempts {grant.removal_attempts}: {grant.last_error or '—'}"
    )


@action("access.release")
def on_release(ctx: Context, grant_id: str) -> None:
    """The Release button (App Home): the person gives back access granted to them, as with "I'm done
    with …". Only their own, still active: a second press, or someone else's grant, changes nothing."""
    number = arguments.record_id(grant_id)
    grant = ctx.session.get(AccessGrant, number) if number else None
    if grant is None or grant.person_email != ctx.speaker.email or grant.status != "active":
        ctx.reply("That access is not active for you any more, so there was nothing to release.")
        return
    if grant.end_reason:  # released (or revoked) already; its removal is under way
        ctx.reply(f"Your {entry_name(ctx, grant.entry_id)} access is already being removed.")
        return
    end_now(ctx, grant, "released by the person")
    ctx.reply(
        f"OK, I'm removing your {entry_name(ctx, grant.entry_id)} access now. Thanks for giving it back."
    )


# --- pending requests running out of time -------------------------------------------------------------


def expire_requests(ctx: Context) -> None:
    """Pending requests past FRONTDESK_ACCESS_REQUEST_TTL expire; approvers get one reminder before.

    Also what a crash interrupted: an approved request never claimed is claimed again (nothing was done
    yet); one claimed but never finished is NOT granted again — whether the membership was added cannot
    be told from here, and a second add would look like a pre-existing membership — so technicians check it.
    """
    from handlers.access.decide import expire_request, reclaim, remind

    moment = now()
    stuck = moment - timedelta(minutes=STUCK_MINUTES)
    for request in ctx.session.scalars(
        select(AccessRequest).where(
            AccessRequest.status.in_(("approved", "granting")), AccessRequest.updated_at < stuck
        )
    ).all():
        if request.status == "approved":
            reclaim(ctx, request)
        else:
            _interrupted(ctx, request)
    pending = ctx.session.scalars(select(AccessRequest).where(AccessRequest.status == "pending")).all()
    for request in pending:
        if request.expires_at <= moment:
            expire_request(ctx, request)
        elif request.reminded_at is None and moment >= _reminder_time(request):
            remind(ctx, request)


def _interrupted(ctx: Context, request: AccessRequest) -> None:
    from handlers.access.records import audit_request, transition

    if not transition(ctx.session, request, "interrupted", "granting"):
        return
    audit_request(ctx, request, "grant_interrupted", "interrupted")
    ctx.triage(
        f"An access grant was interrupted (a restart mid-way): {request.person_email} → {request.group} "
        f"(request {request.correlation_id[:8]}). Please check the membership and add or remove it by hand."
    )
    ctx.send(
        request.person_email,
        f"Your approved request for {entry_name(ctx, request.entry_id)} was interrupted; a technician will "
        "finish it.",
    )


def _reminder_time(request: AccessRequest) -> datetime:
    return request.created_at + (request.expires_at - request.created_at) * 2 / 3
