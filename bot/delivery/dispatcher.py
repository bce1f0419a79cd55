"""The dispatcher: deliver committed outbox rows, once each, in order per recipient, retrying failures.

A row is claimed before it is sent (`pending → sending`: a batch in one `UPDATE … RETURNING`, choosing
its rows `FOR UPDATE SKIP LOCKED` on PostgreSQL, so two processes never take the same row), sent outside
any transaction, then marked `delivered` with the platform's reference (one statement for the batch), or
put back with exponential back-off and jitter. After the last attempt it is `dead` and the technicians are
told in triage. A row is only sent once every earlier row to the same recipient has been delivered or
given up, so messages never arrive out of order. A claim that outlives its holder (the process died
mid-send) lapses after a while and the row is tried again: delivery is at least once, and a crash
*between* the platform accepting a message and the row being marked is the one case that can repeat it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

import structlog
from sqlalchemy import Row, Table, Update, bindparam, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot import logs
from bot.clock import now
from bot.delivery import payloads
from bot.delivery.port import Deliverer, DeliveryError, MessageRef
from bot.delivery.routes import Routes
from bot.messages import Reply, shorten
from bot.store.db import retry_if_disconnected
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
    def of(cls, row: Row[Any], ref: MessageRef | None) -> _Claimed:
        return cls(row.id, row.kind, row.platform, row.recipient, dict(row.address), dict(row.payload), ref)


# Core statements on the table, built once: no ORM objects are loaded to claim or record a row.
_OUTBOX = cast(Table, OutboxMessage.__table__)
_CLAIMED_COLUMNS = (
    "id",
    "kind",
    "platform",
    "recipient",
    "address",
    "payload",
    "topic",
    "ref_row_id",
    "message_ref",
)
_DELIVERED = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("row_id"))
    .values(
        status="delivered",
        message_ref=bindparam("ref"),
        delivered_at=bindparam("moment"),
        last_error="",
        claimed_until=None,
    )
)
# Claimed but not sent (an earlier message to them failed, or the original of an update is on its way).
_HAND_BACK = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(status="pending", attempts=_OUTBOX.c.attempts - 1, claimed_until=None)
)


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
        self._claim_for = timedelta(seconds=policy.claim_seconds)
        self._claim_due = self._claim_statement(by_id=False)
        self._claim_by_id = self._claim_statement(by_id=True)

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
        claimed = retry_if_disconnected(lambda: self._claim(ids))
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
        retry_if_disconnected(lambda: self._record(outcomes))
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

    def _claim(self, ids: list[int] | None) -> list[_Claimed]:
        """Take the due rows that are next in line for their recipient, oldest first: one `UPDATE …
        RETURNING` (see `_claim_statement`); only an update or deletion whose original is still on its way
        is handed back, with what follows it to the same recipient."""
        moment = now()
        with self.sessions.begin() as session:
            params: dict[str, Any] = {"moment": moment, "until": moment + self._claim_for}
            if ids is not None:
                params["ids"] = ids
            claim = self._claim_by_id if ids is not None else self._claim_due
            rows = sorted(session.execute(claim, params), key=lambda row: row.id)
            claimed, back = [], []
            waiting: set[tuple[str, str]] = set()
            for row in rows:
                key = (row.platform, row.recipient)
                ready, ref = (False, None) if key in waiting else _reference(session, row)
                if not ready:  # an update whose original is still on its way: it, and what follows, wait
                    waiting.add(key)
                    back.append(row.id)
                    continue
                claimed.append(_Claimed.of(row, ref))
            if back:
                session.execute(_HAND_BACK, {"ids": back})
            return claimed

    def _claim_statement(self, *, by_id: bool) -> Update:
        """Due rows for our platforms (a batch, `FOR UPDATE SKIP LOCKED` on PostgreSQL so two processes
        never take the same row; SQLite's BEGIN IMMEDIATE serialises claims) become `sending`, except a
        row with an earlier unfinished message to the same recipient outside the batch — waiting for a
        retry, or being sent by another process: it waits its turn. Deletions (of a secret's message,
        due minutes later) keep no order and hold nothing up. Built once (building it is dearer than
        running it): `moment`, `until` and, `by_id`, the `ids` are bound at each claim."""
        due = select(_OUTBOX.c.id, _OUTBOX.c.platform, _OUTBOX.c.recipient, _OUTBOX.c.kind).where(
            _OUTBOX.c.status == "pending",
            _OUTBOX.c.next_attempt_at <= bindparam("moment"),
            _OUTBOX.c.platform.in_(list(self.deliverers)),
        )
        if by_id:
            due = due.where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
        batch = due.order_by(_OUTBOX.c.id).limit(BATCH).with_for_update(skip_locked=True).cte("batch")
        # Per recipient of the batch, their first unfinished message outside it (one pass over the table).
        first_outside = (
            select(_OUTBOX.c.platform, _OUTBOX.c.recipient, func.min(_OUTBOX.c.id).label("id"))
            .where(
                _OUTBOX.c.status.in_(UNFINISHED),
                _OUTBOX.c.kind != "delete",
                _OUTBOX.c.recipient.in_(select(batch.c.recipient)),
                _OUTBOX.c.id.not_in(select(batch.c.id)),
            )
            .group_by(_OUTBOX.c.platform, _OUTBOX.c.recipient)
            .cte("first_outside")
        )
        held_up = (
            select(first_outside.c.id)
            .where(
                first_outside.c.platform == batch.c.platform,
                first_outside.c.recipient == batch.c.recipient,
                first_outside.c.id < batch.c.id,
            )
            .exists()
        )
        in_line = select(batch.c.id).where(or_(batch.c.kind == "delete", ~held_up))
        return (
            update(_OUTBOX)
            .where(_OUTBOX.c.id.in_(in_line))
            .values(status="sending", attempts=_OUTBOX.c.attempts + 1, claimed_until=bindparam("until"))
            .returning(*(_OUTBOX.c[name] for name in _CLAIMED_COLUMNS))
        )

    def _record(self, outcomes: list[_Outcome]) -> None:
        """One statement for the delivered rows and one for those not tried; a failure row by row (it may
        be given up on, and triage told)."""
        if not outcomes:
            return
        delivered = [o for o in outcomes if o.tried and not o.error]
        untried = [o.item.id for o in outcomes if not o.tried]
        failed = [o for o in outcomes if o.tried and o.error]
        with self.sessions.begin() as session:
            if delivered:
                moment = now()
                session.execute(
                    _DELIVERED, [{"row_id": o.item.id, "ref": o.ref, "moment": moment} for o in delivered]
                )
            if untried:  # its turn comes again
                session.execute(_HAND_BACK, {"ids": untried})
            for outcome in failed:
                row = session.get(OutboxMessage, outcome.item.id)
                if row is not None:
                    row.claimed_until = None
                    self._failed(session, row, outcome.error, permanent=outcome.permanent)

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
        retry_if_disconnected(self._lapse)

    def _lapse(self) -> None:
        with self.sessions.begin() as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == "sending", OutboxMessage.claimed_until < now())
                .values(status="pending", claimed_until=None)
                .execution_options(synchronize_session=False)
            )


def _reference(session: Session, row: Row[Any]) -> tuple[bool, MessageRef | None]:
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
