"""The dispatcher: deliver committed outbox rows, once each, in order per recipient, retrying failures.

A row is claimed before it is sent (`pending → sending`, a conditional update — with `FOR UPDATE SKIP
LOCKED` on PostgreSQL — so two processes never take the same row), sent outside any transaction, then
marked `delivered` with the platform's reference, or put back with exponential back-off and jitter. After
the last attempt it is `dead` and the technicians are told in triage. A row is only sent once every
earlier row to the same recipient has been delivered or given up, so messages never arrive out of order.
A claim that outlives its holder (the process died mid-send) lapses after a while and the row is tried
again: delivery is at least once, and a crash *between* the platform accepting a message and the row
being marked is the one case that can repeat it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from bot import logs
from bot.clock import now
from bot.delivery import payloads
from bot.delivery.port import Deliverer, DeliveryError, MessageRef
from bot.delivery.routes import Routes
from bot.messages import Reply, shorten
from bot.store.models import OutboxMessage

log = structlog.get_logger(__name__)
UNFINISHED = ("pending", "sending")
BACKOFF_CAP_SECONDS = 900.0


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_seconds: float = 2.0
    claim_seconds: float = 60.0  # how long a claim holds before another process may retry the row

    def delay(self, attempts: int) -> timedelta:
        """Exponential back-off with full jitter in [½, 1½) of the step, capped at 15 minutes."""
        step = min(BACKOFF_CAP_SECONDS, self.base_seconds * 2 ** max(0, attempts - 1))
        return timedelta(seconds=step * (0.5 + random.random()))


@dataclass(frozen=True)
class _Claimed:
    id: int
    kind: str
    platform: str
    recipient: str
    address: dict[str, Any]
    payload: dict[str, Any]
    ref: MessageRef | None  # for update/delete: the message acted on


class Dispatcher:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        deliverers: Mapping[str, Deliverer],
        policy: RetryPolicy,
        routes: Routes,
        *,
        triage_channel: str = "triage",
    ) -> None:
        self.sessions = sessions
        self.deliverers = dict(deliverers)
        self.policy = policy
        self.routes = routes
        self.triage = "#" + triage_channel
        self.on_dead: list[Any] = []  # callbacks(row id) for tests and the operators' log

    # --- entry points -----------------------------------------------------------------------------------

    def deliver_now(self, row_ids: Iterable[int]) -> int:
        """Deliver these rows at once, in order (the console after each line); returns how many went."""
        return sum(self._attempt(row_id) for row_id in row_ids)

    def run_due(self, limit: int = 500) -> int:
        """One sweep: lapse stale claims, then deliver every due row this process has a deliverer for."""
        self._lapse_stale_claims()
        delivered = 0
        for _ in range(limit):  # each pass frees the next row of every recipient
            ids = self._due_ids(limit)
            if not ids:
                break
            went = sum(self._attempt(row_id) for row_id in ids)
            delivered += went
            if not went:
                break
        return delivered

    # --- one row ----------------------------------------------------------------------------------------

    def _attempt(self, row_id: int) -> bool:
        claimed = self._claim(row_id)
        if claimed is None:
            return False
        deliverer = self.deliverers[claimed.platform]
        try:
            ref = self._send(deliverer, claimed)
        except Exception as error:  # any failure of a platform is a failed attempt, never a crash
            reason = error.reason if isinstance(error, DeliveryError) else f"{type(error).__name__}: {error}"
            permanent = isinstance(error, DeliveryError) and error.permanent
            self._failed(claimed, logs.redact_text(reason), permanent=permanent)
            return False
        self._delivered(claimed, ref)
        return True

    @staticmethod
    def _send(deliverer: Deliverer, claimed: _Claimed) -> MessageRef | None:
        if claimed.kind == "delete":
            if claimed.ref:
                deliverer.delete(claimed.ref)
            return claimed.ref
        payload = payloads.load(claimed.payload)
        if claimed.kind == "update" and claimed.ref:
            return deliverer.update(claimed.ref, payload)
        # An update whose original never reached anyone is simply sent as a new message.
        return deliverer.send(claimed.address, payload)

    def _claim(self, row_id: int) -> _Claimed | None:
        moment = now()
        with self.sessions.begin() as session:
            row = session.scalar(
                select(OutboxMessage).where(OutboxMessage.id == row_id).with_for_update(skip_locked=True)
            )
            if row is None or row.status != "pending" or row.next_attempt_at > moment:
                return None
            if row.platform not in self.deliverers or _blocked(session, row):
                return None
            ready, ref = _reference(session, row)
            if not ready:
                return None
            taken = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id, OutboxMessage.status == "pending")
                .values(
                    status="sending",
                    attempts=OutboxMessage.attempts + 1,
                    claimed_until=moment + timedelta(seconds=self.policy.claim_seconds),
                )
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            if not taken:
                return None
            return _Claimed(
                row.id, row.kind, row.platform, row.recipient, dict(row.address), dict(row.payload), ref
            )

    def _delivered(self, claimed: _Claimed, ref: MessageRef | None) -> None:
        with self.sessions.begin() as session:
            row = session.get(OutboxMessage, claimed.id)
            if row is None:
                return
            row.status, row.message_ref, row.delivered_at = "delivered", ref, now()
            row.claimed_until, row.last_error = None, ""
        log.debug("delivered", row=claimed.id, platform=claimed.platform)

    def _failed(self, claimed: _Claimed, reason: str, *, permanent: bool) -> None:
        with self.sessions.begin() as session:
            row = session.get(OutboxMessage, claimed.id)
            if row is None:
                return
            row.last_error, row.claimed_until = shorten(reason, 500), None
            if permanent or row.attempts >= self.policy.max_attempts:
                row.status = "dead"
                self._tell_triage(session, row)
            else:
                row.status = "pending"
                row.next_attempt_at = now() + self.policy.delay(row.attempts)
            status, attempts = row.status, row.attempts
        log.warning(
            "delivery_failed",
            row=claimed.id,
            platform=claimed.platform,
            attempts=attempts,
            status=status,
            error=shorten(reason, 200),
        )
        if status == "dead":
            for callback in self.on_dead:
                callback(claimed.id)

    def _tell_triage(self, session: Session, dead: OutboxMessage) -> None:
        """A message given up on must not vanish: technicians hear of it in triage."""
        if dead.recipient == self.triage or dead.kind == "delete":
            log.error("delivery_dead", row=dead.id, recipient=dead.recipient, error=dead.last_error)
            return
        what = dead.payload.get("subject") or dead.payload.get("text") or ""
        text = (
            f"I could not deliver a message to {dead.recipient} after {dead.attempts} attempts "
            f"({shorten(dead.last_error, 120)}). It said: {shorten(str(what), 300)} — "
            f"`frontdesk outbox retry {dead.id}` sends it again."
        )
        triage = self.routes.resolve(session, self.triage)
        if triage is None:
            log.error("delivery_dead", row=dead.id, recipient=dead.recipient, error=dead.last_error)
            return
        session.add(
            OutboxMessage(
                idempotency_key=f"dead:{dead.id}",
                platform=triage.platform,
                recipient=self.triage,
                address=triage.address,
                payload=payloads.dump(Reply(to=self.triage, text=text)),
                next_attempt_at=now(),
                created_at=now(),
            )
        )

    # --- sweeps -----------------------------------------------------------------------------------------

    def _due_ids(self, limit: int) -> list[int]:
        with self.sessions() as session:
            statement = (
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.status == "pending",
                    OutboxMessage.next_attempt_at <= now(),
                    OutboxMessage.platform.in_(self.deliverers),
                )
                .order_by(OutboxMessage.id)
                .limit(limit)
            )
            return list(session.scalars(statement))

    def _lapse_stale_claims(self) -> None:
        with self.sessions.begin() as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == "sending", OutboxMessage.claimed_until < now())
                .values(status="pending", claimed_until=None)
                .execution_options(synchronize_session=False)
            )


def _blocked(session: Session, row: OutboxMessage) -> bool:
    """An earlier message to the same recipient is still on its way: this one waits its turn. Deletions
    (of a secret's message, due minutes later) keep no order and hold nothing up."""
    if row.kind == "delete":
        return False
    earlier = aliased(OutboxMessage)
    statement = select(
        exists().where(
            earlier.platform == row.platform,
            earlier.recipient == row.recipient,
            earlier.id < row.id,
            earlier.status.in_(UNFINISHED),
            earlier.kind != "delete",
        )
    )
    return bool(session.scalar(statement))


def _reference(session: Session, row: OutboxMessage) -> tuple[bool, MessageRef | None]:
    """For an update or deletion: (ready, the reference of the message it acts on)."""
    if row.kind == "send":
        return True, None
    if row.message_ref:
        return True, dict(row.message_ref)
    original = None
    if row.ref_row_id is not None:
        original = session.get(OutboxMessage, row.ref_row_id)
    elif row.topic:
        original = session.scalar(
            select(OutboxMessage)
            .where(
                OutboxMessage.topic == row.topic,
                OutboxMessage.recipient == row.recipient,
                OutboxMessage.platform == row.platform,
                OutboxMessage.kind == "send",
                OutboxMessage.id < row.id,
            )
            .order_by(OutboxMessage.id.desc())
        )
    if original is None or original.status == "dead":
        return True, None
    if original.status in UNFINISHED:
        return False, None
    return True, dict(original.message_ref) if original.message_ref else None
