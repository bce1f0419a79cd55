"""The request's record, shared by every step of the flow: finding a request and its account's owner,
moving its status safely, auditing its steps, and the words used for it in messages.

It holds no flow logic of its own, so every other module can build on it without importing each other.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from automations.directory import DirectoryError, DirectoryPerson, NotFound
from bot.clock import now
from bot.messages import Button
from bot.store.models import ResetRequest
from bot.store.transitions import move_status
from handlers import audit
from handlers.context import Context

FLOW = "account"
# A directory with no unlock (Entra ID): what the person is told instead, and what they can do next.
NO_UNLOCK = (
    "I can't unlock accounts in this directory: Microsoft Entra ID gives me no way to, and its lockout "
    "after too many wrong passwords ends by itself after a short while. If you've forgotten your "
    "password, I can reset it now; or I can open a ticket for a technician."
)
NO_UNLOCK_OPTIONS = (
    Button("account.reset", "Reset my password", "primary"),
    Button("account.unlock_ticket", "Open a ticket"),
)


def find_request(ctx: Context, correlation: str) -> ResetRequest | None:
    if not correlation:
        return None
    return ctx.session.scalars(select(ResetRequest).where(ResetRequest.correlation_id == correlation)).first()


def read_owner(ctx: Context, request: ResetRequest) -> DirectoryPerson:
    """The account the request was made for, read again by its directory id (not by a chat identity)."""
    owner = ctx.services.directory.get(request.account_id) if request.account_id else None
    if owner is None or owner.email != request.person_email:
        raise NotFound("the account is no longer in the directory under this email")
    return owner


def read_owner_or_none(ctx: Context, request: ResetRequest) -> DirectoryPerson | None:
    try:
        return read_owner(ctx, request)
    except DirectoryError:
        return None


def transition(ctx: Context, request: ResetRequest, to: str, *allowed_from: str) -> bool:
    """Move the request to `to` only if it is still in one of `allowed_from`: one conditional UPDATE,
    so concurrent events (two approvals, a cancel racing an approval) cannot both win."""
    return transition_in(ctx.session, request, to, *allowed_from)


def transition_in(session: Session, request: ResetRequest, to: str, *allowed_from: str) -> bool:
    """`transition` for code that has a session but no event (a scheduled job)."""
    return move_status(session, request, to, *allowed_from)


def close(ctx: Context, request: ResetRequest, status: str, step: str, result: str, **detail: object) -> None:
    request.status, request.updated_at = status, now()
    audit_step(ctx, request, step, result, **detail)


def audit_step(ctx: Context, request: ResetRequest, step: str, result: str, **detail: object) -> None:
    audit.record(ctx.session, **audit_entry(ctx, request, step, result, **detail))


def audit_entry(
    ctx: Context, request: ResetRequest, step: str, result: str, **detail: object
) -> dict[str, Any]:
    """Target is always the account's owner, whoever acts (the person, or the approving manager)."""
    return {
        "actor": ctx.speaker.email,
        "action": f"{request.kind}.{step}",
        "target": request.person_email,
        "result": result,
        "correlation_id": request.correlation_id,
        **detail,
    }


def audit_attempt(ctx: Context, kind: str, result: str, **detail: object) -> None:
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


def noun(kind: str) -> str:
    return "password reset" if kind == "reset" else "account unlock"


def verb(kind: str) -> str:
    return "reset the password of" if kind == "reset" else "unlock"
