"""Moving a row's `status` safely: one conditional UPDATE, so of two concurrent events exactly one wins."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.clock import now


def move_status(session: Session, row: Any, to: str, *allowed_from: str) -> bool:
    """Set `row.status` to `to` only if it is still one of `allowed_from`; True when this call moved it.
    `row` is any model with `id`, `status` and `updated_at` (a reset request, an access request)."""
    model = type(row)
    changed = session.execute(
        update(model)
        .where(model.id == row.id, model.status.in_(allowed_from))
        .values(status=to, updated_at=now())
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    session.refresh(row)
    return bool(changed == 1)
