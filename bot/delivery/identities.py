"""Each person's identities on the chat platforms, refreshed on every inbound event.

An identity says how to reach a person on one platform without waiting for them to write: their Slack
user and workspace, their Teams object id and the conversation reference proactive messages need.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clock import now
from bot.messages import Person
from bot.store.models import Identity


def refresh(session: Session, person: Person) -> None:
    """Record (or update) who `person` is on their platform; the newest identity is tried first."""
    if not (person.platform_user_id and person.email):
        return
    row = session.scalar(
        select(Identity).where(
            Identity.platform == person.platform, Identity.platform_user_id == person.platform_user_id[:200]
        )
    )
    if row is None:
        row = Identity(platform=person.platform, platform_user_id=person.platform_user_id[:200])
        session.add(row)
    row.email = person.email.strip().lower()
    row.team = person.team[:200]
    if person.reference is not None:
        row.reference = dict(person.reference)
    elif row.reference is None:
        row.reference = {}
    row.updated_at = now()


def of(session: Session, email: str) -> list[Identity]:
    """`email`'s identities, the most recently used first."""
    statement = (
        select(Identity)
        .where(Identity.email == email.strip().lower())
        .order_by(Identity.updated_at.desc(), Identity.id.desc())
    )
    return list(session.scalars(statement))
