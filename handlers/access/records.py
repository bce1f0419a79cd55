"""The records of access requests and grants, shared by every step: finding them, moving their status
safely, who may approve, auditing, and the words used for them. No flow logic of its own."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from automations.access_catalog import AccessCatalog, AccessEntry, describe_duration
from automations.directory import DirectoryError, DirectoryPerson
from bot.store.models import AccessGrant, AccessRequest
from bot.store.transitions import move_status
from handlers import arguments, audit, people
from handlers.context import Context

FLOW = "access"
DENY_FLOW = "access.deny"
MAX_JUSTIFICATION = 500


def catalog(ctx: Context) -> AccessCatalog | None:
    return ctx.services.access


def find_request(session: Session, correlation: str) -> AccessRequest | None:
    token = arguments.token(correlation or "")
    if not token:
        return None
    return session.scalars(select(AccessRequest).where(AccessRequest.correlation_id == token)).first()


def transition(session: Session, request: AccessRequest, to: str, *allowed_from: str) -> bool:
    """Move the request to `to` only if still in one of `allowed_from`: of two concurrent decisions
    exactly one wins."""
    return move_status(session, request, to, *allowed_from)


def active_grants(session: Session, email: str) -> list[AccessGrant]:
    return list(
        session.scalars(
            select(AccessGrant)
            .where(AccessGrant.person_email == email, AccessGrant.status == "active")
            .order_by(AccessGrant.granted_at)
        )
    )


def pending_requests(session: Session, email: str) -> list[AccessRequest]:
    return list(
        session.scalars(
            select(AccessRequest)
            .where(
                AccessRequest.person_email == email,
                AccessRequest.status.in_(("pending", "approved", "granting")),
            )
            .order_by(AccessRequest.created_at)
        )
    )


def awaiting_decision_by(session: Session, approver: str) -> list[AccessRequest]:
    """Pending requests whose card went to `approver` and that they have not approved yet."""
    pending = session.scalars(
        select(AccessRequest).where(AccessRequest.status == "pending").order_by(AccessRequest.created_at)
    )
    return [r for r in pending if approver in (r.notified or []) and approver not in (r.approvals or [])]


def bot_grant_for(session: Session, email: str, group: str) -> AccessGrant | None:
    """The person's active grant of `group` (the one an extension lengthens)."""
    return session.scalars(
        select(AccessGrant).where(
            AccessGrant.person_email == email, AccessGrant.group == group, AccessGrant.status == "active"
        )
    ).first()


# --- who may approve ----------------------------------------------------------------------------------


def requester_profile(ctx: Context, request: AccessRequest) -> DirectoryPerson | None:
    return directory_person(ctx, request.person_id, request.person_email)


def directory_person(ctx: Context, person_id: str, email: str) -> DirectoryPerson | None:
    """The account by its directory id, read again — and only if it still has the same email."""
    try:
        person = ctx.services.directory.get(person_id)
    except DirectoryError:
        return None
    return person if person is not None and person.email == email else None


def approver_emails(ctx: Context, entry: AccessEntry, requester: DirectoryPerson) -> list[str]:
    """Everyone who may approve `requester`'s request for `entry` (the requester never among them)."""
    emails: set[str] = set(entry.owners())
    if "manager" in entry.approvers and requester.manager_email:
        emails.add(requester.manager_email.lower())
    for group in entry.approver_groups():
        try:
            emails |= {member.email for member in ctx.services.directory.group_members(group)}
        except DirectoryError:
            continue
    emails.discard(requester.email)
    return sorted(emails)


def approver_rule(ctx: Context, request: AccessRequest, entry: AccessEntry) -> str:
    """Which approver rule the clicker satisfies now ("" when none); checked at click time, by identity.

    The requester never satisfies one, whatever role they hold (owner, manager, technician)."""
    email = ctx.speaker.email
    if not email or email == request.person_email or ctx.speaker.is_system:
        return ""
    if email in entry.owners():
        return "owner"
    if "manager" in entry.approvers:
        requester = requester_profile(ctx, request)
        if requester is not None and (requester.manager_email or "").lower() == email:
            return "manager"
    profile = ctx.speaker.profile
    for group in entry.approver_groups():
        try:
            if profile is not None and ctx.services.directory.is_member(profile, group):
                return f"group:{group}"
        except DirectoryError:
            continue
    return ""


def in_audience(ctx: Context, person: DirectoryPerson, departments: list[str], groups: list[str]) -> bool:
    if person.department.lower() in {d.lower() for d in departments}:
        return True
    for group in groups:
        try:
            if ctx.services.directory.is_member(person, group):
                return True
        except DirectoryError:
            continue
    return False


# --- audit --------------------------------------------------------------------------------------------


def audit_request(ctx: Context, request: AccessRequest, step: str, result: str, **detail: object) -> None:
    """What the person typed (justification, reasons) is never in the audit: only what happened."""
    audit.record(
        ctx.session,
        actor=ctx.speaker.email,
        action=f"access.{step}",
        target=request.person_email,
        result=result,
        correlation_id=request.correlation_id,
        entry=request.entry_id,
        group=request.group,
        **detail,
    )


def audit_grant(ctx: Context, grant: AccessGrant, step: str, result: str, **detail: object) -> None:
    audit.record(
        ctx.session,
        actor=ctx.speaker.email,
        action=f"access.{step}",
        target=grant.person_email,
        result=result,
        correlation_id=f"access-grant-{grant.id}",
        entry=grant.entry_id,
        group=grant.group,
        grant=grant.id,
        **detail,
    )


# --- words --------------------------------------------------------------------------------------------


def entry_name(ctx: Context, entry_id: str) -> str:
    access = catalog(ctx)
    entry = access.get(entry_id) if access else None
    return entry.name if entry else entry_id


def until(moment: datetime | None) -> str:
    return "with no end date" if moment is None else f"until {moment:%Y-%m-%d %H:%M} UTC"


def how_long(seconds: int | None) -> str:
    return "permanently" if seconds is None else f"for {describe_duration(seconds)}"


def technicians(ctx: Context) -> list[str]:
    return people.technicians(ctx.services)
