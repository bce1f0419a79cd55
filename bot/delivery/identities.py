"""Each person's identities on the chat platforms, refreshed on every inbound event.

An identity says how to reach a person on one platform without waiting for them to write: their Slack
user and workspace, their Teams object id and the conversation reference proactive messages need.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.clock import now
from bot.messages import Person
from bot.store.models import Identity


def refresh(session: Session, person: Person) -> None:
    """Record (or update) who `person` is on their platform; the newest identity is tried first.

    One INSERT … ON CONFLICT DO UPDATE, so two first messages from the same person at once (two
    processes, two threads) cannot both insert."""
    if not (person.platform_user_id and person.email):
        return
    values = {
        "platform": person.platform[:20],
        "platform_user_id": person.platform_user_id[:200],
        "email": person.email.strip().lower()[:320],
        "team": person.team[:200],
        "reference": dict(person.reference or {}),
        "updated_at": now(),
    }
    changes = {k: values[k] for k in ("email", "team", "updated_at")}
    if person.reference is not None:
        changes["reference"] = values["reference"]
    insert = insert_for(session)(Identity).values(**values)
    session.execute(
        insert.on_conflict_do_update(index_elements=["platform", "platform_user_id"], set_=changes)
    )


def insert_for(session: Session) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (SQLite and PostgreSQL spell it the same)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert
    return sqlite.insert


def of(session: Session, email: str) -> list[Identity]:
    """`email`'s identities, the most recently used first."""
    statement = (
        select(Identity)
        .where(Identity.email == email.strip().lower())
        .order_by(Identity.updated_at.desc(), Identity.id.desc())
    )
    return list(session.scalars(statement))
