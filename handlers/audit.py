"""The audit trail: one append-only row per sensitive step. Never a secret, by construction."""

from __future__ import annotations

import re
from typing import Any

import structlog
from sqlalchemy.orm import Session

from bot.clock import now
from bot.store.models import AuditRecord

log = structlog.get_logger(__name__)
_SECRET_KEYS = re.compile(r"pass(word)?|secret|code$|token", re.I)
# What a person typed may hold a password ("reset it, the old one was …"): record what they asked for
# (an action, a reason), never their words.
_TYPED_TEXT_KEYS = re.compile(r"^(asked|text|message|said|typed|input)$", re.I)


def record(
    session: Session, *, actor: str, action: str, target: str, result: str, correlation_id: str, **detail: Any
) -> None:
    """Append one audit row (and log it). Detail keys that could hold a secret or a person's own words
    are refused outright."""
    leaking = [key for key in detail if _SECRET_KEYS.search(key) or _TYPED_TEXT_KEYS.search(key)]
    if leaking:
        raise ValueError(f"audit detail must not carry secrets: {leaking}")
    session.add(
        AuditRecord(
            at=now(),
            actor=actor,
            action=action,
            target=target,
            result=result,
            correlation_id=correlation_id,
            detail=detail,
        )
    )
    log.info("audit", action=action, target=target, result=result, correlation_id=correlation_id)
