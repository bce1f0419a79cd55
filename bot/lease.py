"""A database lease: which of the processes sharing one database runs the scheduled jobs.

One row per lease name: (holder, expires_at). Taking or renewing it is one conditional UPDATE — "mine, or
expired" — that works the same on SQLite and PostgreSQL; the first holder INSERTs the row. The holder
renews it every third of its length; when a holder dies, another process takes it once it has expired,
so scheduled work resumes within FRONTDESK_LEASE_SECONDS.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import now
from bot.store.models import Lease as LeaseRow

log = structlog.get_logger(__name__)


class Lease:
    def __init__(self, sessions: sessionmaker[Session], name: str, holder: str, seconds: float) -> None:
        self.sessions = sessions
        self.name = name
        self.holder = holder
        self.seconds = seconds
        self.held = False

    def acquire(self) -> bool:
        """Take or renew the lease; True while this process holds it. A database error means not held."""
        try:
            held = self._take_or_renew()
        except SQLAlchemyError as error:
            log.warning("lease_unavailable", lease=self.name, error=str(error).splitlines()[0])
            held = False
        if held != self.held:
            log.info("lease_taken" if held else "lease_lost", lease=self.name, holder=self.holder)
        self.held = held
        return held

    def _take_or_renew(self) -> bool:
        moment = now()
        expires = moment + timedelta(seconds=self.seconds)
        with self.sessions.begin() as session:
            taken = session.execute(
                update(LeaseRow)
                .where(
                    LeaseRow.name == self.name,
                    (LeaseRow.holder == self.holder) | (LeaseRow.expires_at < moment),
                )
                .values(holder=self.holder, expires_at=expires)
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            if taken:
                return True
            if session.get(LeaseRow, self.name) is not None:
                return False
        try:
            with self.sessions.begin() as session:
                session.add(LeaseRow(name=self.name, holder=self.holder, expires_at=expires))
        except IntegrityError:
            return False  # another process inserted it first
        return True

    def release(self) -> None:
        """Give the lease up at a clean stop, so another process need not wait for it to expire."""
        if not self.held:
            return
        try:
            with self.sessions.begin() as session:
                session.execute(
                    update(LeaseRow)
                    .where(LeaseRow.name == self.name, LeaseRow.holder == self.holder)
                    .values(expires_at=now() - timedelta(seconds=1))
                    .execution_options(synchronize_session=False)
                )
        except SQLAlchemyError:
            pass  # it expires by itself
        self.held = False

    def current_holder(self) -> str | None:
        with self.sessions() as session:
            row = session.scalar(select(LeaseRow).where(LeaseRow.name == self.name))
            return row.holder if row is not None and row.expires_at >= now() else None
