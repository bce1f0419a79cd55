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
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

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
BATCH = 100  # rows claimed, sent and recorded together


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
class _Outcome:
    item: _Claimed
    ref: MessageRef | None = None
    error: str = ""
    permanent: bool = False
    tried: bool = True


def _reason(error: Exception) -> str:
    reason = error.reason if isinstance(error, DeliveryError) else f"{type(error).__name__}: {error}"
    return logs.redact_text(reason) or type(error).__name__


def _permanent(error: Exception) -> bool:
    return isinstance(error, DeliveryError) and error.permanent


@dataclass(frozen=True)
class _Claimed:
    id: int
    kind: str
    platform: str
    recipient: str
    address: dict[str, Any]
    payload: dict[str, Any]
    ref: MessageRef | None  # for update/delete: the message acted on

    @classmethod
    def of(cls, row: OutboxMessage, ref: MessageRef | None) -> _Claimed:
        return cls(row.id, row.kind, row.platform, row.recipient, dict(row.address), dict(row.payload), ref)


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
        self._lapsed_at = -1e9

    # --- entry points -----------------------------------------------------------------------------------

    def deliver_now(self, row_ids: Iterable[int]) -> int:
        """Deliver these rows at once, in order (the console after each line); returns how many went."""
        ids = list(row_ids)
        delivered = 0
        while ids:
            went, tried = self._pass(ids)
            delivered += went
            ids = [i for i in ids if i not in tried]
            if not tried:
                break  # what is left waits for an earlier message or a retry: the sweeps take it
        return delivered

    def run_due(self, limit: int = 1000) -> int:
        """One sweep: lapse stale claims, then deliver every due row this process has a deliverer for."""
        self._lapse_stale_claims()
        delivered = 0
        for _ in range(limit // 10 + 1):  # bounded: each pass takes up to a batch of 100
            went, tried = self._pass(None)
            delivered += went
            if len(tried) < BATCH or delivered >= limit:
                break  # a short batch: nothing else was due
        return delivered

    # --- one pass: claim a batch, send it, record it ------------------------------------------------------

    def _pass(self, ids: list[int] | None) -> tuple[int, set[int]]:
        """(delivered, rows claimed). Two short transactions for the whole batch, the sending between."""
        claimed = self._claim(ids)
        failed_recipients: set[tuple[str, str]] = set()
        outcomes: list[_Outcome] = []
        for item in claimed:
            key = (item.platform, item.recipient)
            if key in failed_recipients and item.kind != "delete":
                outcomes.append(_Outcome(item, tried=False))  # an earlier one to them just failed
                continue
            try:
                ref = self._send(self.deliverers[item.platform], item)
            except Exception as error:  # any failure of a platform is a failed attempt, never a crash
                outcomes.append(_Outcome(item, error=_reason(error), permanent=_permanent(error)))
                failed_recipients.add(key)
                continue
            outcomes.append(_Outcome(item, ref=ref))
        self._record(outcomes)
        return sum(1 for o in outcomes if o.tried and not o.error), {item.id for item in claimed}

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

    def _claim(self, ids: list[int] | None, size: int = 0) -> list[_Claimed]:
        """Take the due rows that are next in line for their recipient (`FOR UPDATE SKIP LOCKED` on
        PostgreSQL; SQLite's BEGIN IMMEDIATE serialises claims), oldest first."""
        moment = now()
        with self.sessions.begin() as session:
            statement = select(OutboxMessage).where(
                OutboxMessage.status == "pending",
                OutboxMessage.next_attempt_at <= moment,
                OutboxMessage.platform.in_(self.deliverers),
            )
            if ids is not None:
                statement = statement.where(OutboxMessage.id.in_(ids))
            statement = statement.order_by(OutboxMessage.id).limit(size or BATCH)
            rows = list(session.scalars(statement.with_for_update(skip_locked=True)))
            claimed = []
            waiting: set[tuple[str, str]] = set()
            for row in _next_in_line(session, rows):
                key = (row.platform, row.recipient)
                ready, ref = (False, None) if key in waiting else _reference(session, row)
                if not ready:  # an update whose original is still on its way: it, and what follows, wait
                    waiting.add(key)
                    continue
                row.status, row.attempts = "sending", row.attempts + 1
                row.claimed_until = moment + timedelta(seconds=self.policy.claim_seconds)
                claimed.append(_Claimed.of(row, ref))
            return claimed

    def _record(self, outcomes: list[_Outcome]) -> None:
        if not outcomes:
            return
        with self.sessions.begin() as session:
            for outcome in outcomes:
                row = session.get(OutboxMessage, outcome.item.id)
                if row is None:
                    continue
                row.claimed_until = None
                if not outcome.tried:
                    row.status, row.attempts = "pending", row.attempts - 1  # its turn comes again
                elif outcome.error:
                    self._failed(session, row, outcome.error, permanent=outcome.permanent)
                else:
                    row.status, row.message_ref, row.delivered_at = "delivered", outcome.ref, now()
                    row.last_error = ""

    def _failed(self, session: Session, row: OutboxMessage, reason: str, *, permanent: bool) -> None:
        row.last_error = shorten(reason, 500)
        if permanent or row.attempts >= self.policy.max_attempts:
            row.status = "dead"
            self._tell_triage(session, row)
        else:
            row.status = "pending"
            row.next_attempt_at = now() + self.policy.delay(row.attempts)
        log.warning(
            "delivery_failed",
            row=row.id,
            platform=row.platform,
            attempts=row.attempts,
            status=row.status,
            error=shorten(reason, 200),
        )

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

    def _lapse_stale_claims(self) -> None:
        """Rows claimed by a process that died go back to pending (checked at most every few seconds)."""
        if time.monotonic() - self._lapsed_at < min(5.0, self.policy.claim_seconds / 2):
            return
        self._lapsed_at = time.monotonic()
        with self.sessions.begin() as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == "sending", OutboxMessage.claimed_until < now())
                .values(status="pending", claimed_until=None)
                .execution_options(synchronize_session=False)
            )


def _next_in_line(session: Session, rows: list[OutboxMessage]) -> list[OutboxMessage]:
    """The rows every earlier unfinished message of whose recipient is among `rows` too: a recipient with
    an earlier message elsewhere (waiting for a retry, being sent by another process) waits its turn.
    Deletions (of a secret's message, due minutes later) keep no order and hold nothing up."""
    if not rows:
        return []
    candidates = {row.id for row in rows}
    recipients = {(row.platform, row.recipient) for row in rows}
    unfinished = session.execute(
        select(OutboxMessage.id, OutboxMessage.platform, OutboxMessage.recipient)
        .where(
            OutboxMessage.status.in_(UNFINISHED),
            OutboxMessage.kind != "delete",
            OutboxMessage.recipient.in_({recipient for _, recipient in recipients}),
            OutboxMessage.id <= max(candidates),
        )
        .order_by(OutboxMessage.id)
    )
    blocked: set[tuple[str, str]] = set()
    in_line: set[int] = set()
    for row_id, platform, recipient in unfinished:
        key = (platform, recipient)
        if key not in recipients or key in blocked:
            continue
        if row_id in candidates:
            in_line.add(row_id)
        else:
            blocked.add(key)
    return [row for row in rows if row.kind == "delete" or row.id in in_line]


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
