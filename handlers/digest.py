"""The managers' digest: what the desk did over a period, computed in the database.

Every figure is an aggregate (COUNT, SUM(CASE …), AVG, GROUP BY) or a short ordered list; no history is
loaded into Python, so the digest stays fast on years of tickets (bench/digest_bench.py). Definitions:

- a period is whole days in FRONTDESK_TIMEZONE, [start, end); the trend is the 7 days ending with it;
- **first response**: the first `claimed` or `message_to_requester` event of a ticket (a technician took
  it or wrote to the requester, whichever came first); medians are over tickets opened in the period;
- **resolution time**: resolved_at − created_at of tickets resolved in the period;
- **first-contact resolution**: a ticket resolved in the period with at most one technician message to
  the requester and never reopened; the bot's own resolutions are counted under automation;
- **honest deflection**: a question the person confirmed ("That solved it") and who opened no ticket in
  the three days after it (bot.insights.TAKE_BACK_WINDOW; stricter than its topic check, which needs the
  knowledge base and cannot run in SQL); the rate is deflected / asked;
- **SLA breach**: a ticket opened in the period whose first response (or resolution) came later than
  its urgency's target, or has not come and the target has passed by the end of the period (or by now,
  for a period still running: `Period.as_of`; backlog ages and waiting approvals are read then too).

- **open incidents**: declared before the end of the period and not resolved by then (titles listed,
  oldest first); declared and resolved count those events within the period.

A section for a flow that has not landed would be None: "no data yet".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from bot.clock import now
from bot.insights import TAKE_BACK_WINDOW
from bot.redact import hide_secrets
from bot.store.models import (
    AccessGrant,
    AccessRequest,
    Incident,
    KbQuestion,
    ResetRequest,
    Ticket,
    TicketEvent,
)
from handlers.ticket_views import OPEN_STATUSES

if TYPE_CHECKING:
    from bot.settings import Settings

TREND_DAYS = 7
TOP_UNANSWERED = 5
LOW_SCORE = 2  # ratings 1–5: this or lower is listed with its comment
LOW_SCORES_LISTED = 10
OPEN_INCIDENTS_LISTED = 10
APPROVAL_WAIT = timedelta(days=1)
FIRST_RESPONSE_KINDS = ("claimed", "message_to_requester")
# Backlog ages at the end of the period: (label, from, to) in days.
AGE_BUCKETS = (("under 1 day", 0, 1), ("1-3 days", 1, 3), ("3-7 days", 3, 7), ("over 7 days", 7, None))


@dataclass(frozen=True)
class Period:
    """Whole local days: `first` … `last` inclusive, as UTC instants [start, end)."""

    first: date
    last: date
    zone: str

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def start(self) -> datetime:
        return _midnight(self.first, self.zone)

    @property
    def end(self) -> datetime:
        return _midnight(self.last + timedelta(days=1), self.zone)

    @property
    def as_of(self) -> datetime:
        """The moment states are read at: the period's end, or now for a period still running ("this
        week" asked on Tuesday) — a ticket opened a minute ago has breached nothing and is minutes old."""
        return min(self.end, now())

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        return _midnight(day, self.zone), _midnight(day + timedelta(days=1), self.zone)

    @property
    def label(self) -> str:
        return f"{self.last:%a %d %b %Y}" if self.days == 1 else f"{self.first:%d %b} – {self.last:%d %b %Y}"


def period(last: date, days: int, zone: str) -> Period:
    return Period(last - timedelta(days=max(days, 1) - 1), last, zone)


def yesterday(moment: datetime, zone: str) -> date:
    return moment.astimezone(ZoneInfo(zone)).date() - timedelta(days=1)


def _midnight(day: date, zone: str) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(zone)).astimezone(UTC)


def figures(session: Session, settings: Settings, span: Period) -> dict[str, Any]:
    """Every figure of the digest for `span`, JSON-ready (None: that flow has not landed: no data yet)."""
    kb = _kb(session, span)
    automation = _automation(session, settings, span, kb["deflected"])
    return {
        "period": {"first": span.first.isoformat(), "last": span.last.isoformat(), "days": span.days},
        "timezone": span.zone,
        "requests": _requests(session, span),
        "automation": automation,
        "kb": kb,
        "tickets": _tickets(session, settings, span),
        "satisfaction": _satisfaction(session, span),
        "approvals_waiting": _approvals_waiting(session, span),
        "grants_expiring": _grants_ending(session, span),
        "incidents": _incidents(session, span),
        "trend": _trend(session, span),
    }


# --- requests and what automation resolved ---------------------------------------------------------------


def _requests(session: Session, span: Period) -> dict[str, Any]:
    by_category = session.execute(
        select(Ticket.category, func.count())
        .where(_within(Ticket.created_at, span))
        .group_by(Ticket.category)
        .order_by(Ticket.category)
    ).all()
    by_kind = dict(
        session.execute(
            select(ResetRequest.kind, func.count())
            .where(_within(ResetRequest.created_at, span))
            .group_by(ResetRequest.kind)
        ).all()
    )
    questions = session.scalar(select(func.count()).where(_within(KbQuestion.created_at, span))) or 0
    access = session.scalar(select(func.count()).where(_within(AccessRequest.created_at, span))) or 0
    return {
        "tickets": {str(category): int(count) for category, count in by_category},
        "resets": int(by_kind.get("reset", 0)),
        "unlocks": int(by_kind.get("unlock", 0)),
        "kb_questions": int(questions),
        "access": int(access),
    }


def _automation(session: Session, settings: Settings, span: Period, deflected: int) -> dict[str, Any]:
    done = dict(
        session.execute(
            select(ResetRequest.kind, func.count())
            .where(ResetRequest.status == "done", _within(ResetRequest.updated_at, span))
            .group_by(ResetRequest.kind)
        ).all()
    )
    resets, unlocks = int(done.get("reset", 0)), int(done.get("unlock", 0))
    grants = int(
        session.scalar(
            select(func.count()).where(
                _within(AccessGrant.granted_at, span), AccessGrant.pre_existing.is_(False)
            )
        )
        or 0
    )
    saved = (
        resets * settings.minutes_saved_reset
        + unlocks * settings.minutes_saved_unlock
        + deflected * settings.minutes_saved_kb_answer
        + grants * settings.minutes_saved_grant
    )
    return {
        "resets_done": resets,
        "unlocks_done": unlocks,
        "kb_answers": deflected,
        "grants_done": grants,
        "resolved": resets + unlocks + deflected + grants,
        "minutes_saved": saved,
    }


# --- the knowledge base ----------------------------------------------------------------------------------


def _deflected(session: Session) -> ColumnElement[bool]:
    """Confirmed helpful, and no ticket from the same person in the take-back window after it."""
    later = aliased(Ticket)
    seconds = _seconds_between(session)
    return and_(
        KbQuestion.outcome == "helpful",
        ~exists().where(
            later.requester_email == KbQuestion.person_email,
            later.created_at >= KbQuestion.created_at,
            seconds(later.created_at, KbQuestion.created_at) <= TAKE_BACK_WINDOW.total_seconds(),
        ),
    )


def _kb(session: Session, span: Period) -> dict[str, Any]:
    row = session.execute(
        select(
            func.count(),
            _count(KbQuestion.article_id.is_not(None)),
            _count(KbQuestion.outcome == "helpful"),
            _count(KbQuestion.outcome == "not_helpful"),
            _count(KbQuestion.outcome == "escalated"),
            _count(and_(KbQuestion.outcome == "unanswered", KbQuestion.article_id.is_(None))),
            _count(_deflected(session)),
        ).where(_within(KbQuestion.created_at, span))
    ).one()
    asked, answered, helpful, not_helpful, escalated, unanswered, deflected = (int(v or 0) for v in row)
    return {
        "asked": asked,
        "answered": answered,
        "confirmed_helpful": helpful,
        "not_helpful": not_helpful,
        "escalated": escalated,
        "unanswered": unanswered,
        "taken_back": helpful - deflected,
        "deflected": deflected,
        "deflection_rate": _rate(deflected, asked),
        "top_unanswered": _top_unanswered(session, span),
    }


def _top_unanswered(session: Session, span: Period) -> list[dict[str, Any]]:
    """The questions nobody could answer, most asked first (same wording, case and spaces aside)."""
    wording = func.lower(func.trim(KbQuestion.text))
    rows = session.execute(
        select(func.min(KbQuestion.text), func.count().label("times"))
        .where(
            _within(KbQuestion.created_at, span),
            KbQuestion.outcome.in_(("unanswered", "escalated", "not_helpful")),
        )
        .group_by(wording)
        .order_by(func.count().desc(), wording)
        .limit(TOP_UNANSWERED)
    ).all()
    # Questions recorded before they were screened must not show a password in the digest either.
    return [{"text": hide_secrets(str(text)), "times": int(times)} for text, times in rows]


# --- tickets ---------------------------------------------------------------------------------------------


def _first_response() -> Any:
    """When a technician first took the ticket or wrote to the requester (a correlated subquery: only the
    period's tickets are looked up, each through the ticket_id index)."""
    return (
        select(func.min(TicketEvent.at))
        .where(TicketEvent.ticket_id == Ticket.id, TicketEvent.kind.in_(FIRST_RESPONSE_KINDS))
        .correlate(Ticket)
        .scalar_subquery()
    )


def _tickets(session: Session, settings: Settings, span: Period) -> dict[str, Any]:
    first = _first_response()
    seconds = _seconds_between(session)
    opened_here = _within(Ticket.created_at, span)
    response_target = case(
        (Ticket.urgent, settings.sla_first_response_urgent * 60),
        else_=settings.sla_first_response_normal * 60,
    )
    resolution_target = case(
        (Ticket.urgent, settings.sla_resolution_urgent * 3600),
        else_=settings.sla_resolution_normal * 3600,
    )
    end = literal(span.as_of, Ticket.created_at.type)
    opened = session.execute(
        select(
            func.count(),
            _count(seconds(func.coalesce(first, end), Ticket.created_at) > response_target),
            _count(seconds(func.coalesce(Ticket.resolved_at, end), Ticket.created_at) > resolution_target),
        ).where(opened_here)
    ).one()
    resolved_here = and_(Ticket.status.in_(("resolved", "closed")), _within(Ticket.resolved_at, span))
    resolved = session.scalar(select(func.count()).where(resolved_here)) or 0
    first_contact = session.scalar(select(func.count()).where(resolved_here, _first_contact())) or 0
    return {
        "opened": int(opened[0]),
        "resolved": int(resolved),
        "backlog": _backlog(session, span),
        "unclaimed": int(
            session.scalar(
                select(func.count()).where(
                    Ticket.status.in_(OPEN_STATUSES),
                    Ticket.assignee_email.is_(None),
                    Ticket.created_at < span.end,
                )
            )
            or 0
        ),
        "sla_breaches": {"first_response": int(opened[1] or 0), "resolution": int(opened[2] or 0)},
        "median_first_response_minutes": _median_minutes(
            session,
            select(seconds(first, Ticket.created_at).label("s")).where(opened_here, first.is_not(None)),
        ),
        "median_resolution_minutes": _median_minutes(
            session, select(seconds(Ticket.resolved_at, Ticket.created_at).label("s")).where(resolved_here)
        ),
        "first_contact_resolved": int(first_contact),
        "first_contact_rate": _rate(int(first_contact), int(resolved)),
    }


def _first_contact() -> ColumnElement[bool]:
    messages = (
        select(func.count())
        .where(TicketEvent.ticket_id == Ticket.id, TicketEvent.kind == "message_to_requester")
        .scalar_subquery()
    )
    reopened = exists().where(TicketEvent.ticket_id == Ticket.id, TicketEvent.kind == "reopened")
    return and_(messages <= 1, ~reopened)


def _backlog(session: Session, span: Period) -> dict[str, int]:
    columns = []
    for _label, low, high in AGE_BUCKETS:
        condition = Ticket.created_at <= span.as_of - timedelta(days=low)
        if high is not None:
            condition = and_(condition, Ticket.created_at > span.as_of - timedelta(days=high))
        columns.append(_count(condition))
    row = session.execute(
        select(*columns).where(Ticket.status.in_(OPEN_STATUSES), Ticket.created_at < span.end)
    ).one()
    return {label: int(value or 0) for (label, _low, _high), value in zip(AGE_BUCKETS, row, strict=True)}


def _median_minutes(session: Session, durations: Any) -> float | None:
    """The median of a one-column query of seconds, found by the database (ORDER BY, OFFSET)."""
    inner = durations.subquery("durations")
    count = int(session.scalar(select(func.count()).select_from(inner)) or 0)
    if not count:
        return None
    middle = session.scalars(
        select(inner.c.s).order_by(inner.c.s).offset((count - 1) // 2).limit(2 - count % 2)
    ).all()
    return round(sum(float(v) for v in middle) / len(middle) / 60, 1)


# --- satisfaction, approvals -----------------------------------------------------------------------------


def _satisfaction(session: Session, span: Period) -> dict[str, Any]:
    rated = (
        select(TicketEvent.ticket_id)
        .where(TicketEvent.kind == "rated", _within(TicketEvent.at, span))
        .distinct()
        .scalar_subquery()
    )
    in_period = and_(Ticket.id.in_(rated), Ticket.rating.is_not(None))
    average, count = session.execute(select(func.avg(Ticket.rating), func.count()).where(in_period)).one()
    low = session.execute(
        select(Ticket.id, Ticket.rating, Ticket.rating_comment)
        .where(in_period, Ticket.rating <= LOW_SCORE)
        .order_by(Ticket.rating, Ticket.id)
        .limit(LOW_SCORES_LISTED)
    ).all()
    return {
        "average": None if average is None else round(float(average), 2),
        "count": int(count),
        "low": [
            {"ticket": int(i), "rating": int(r or 0), "comment": hide_secrets(c or "")} for i, r, c in low
        ],
    }


def _approvals_waiting(session: Session, span: Period) -> int:
    """Resets waiting for a manager, and access requests waiting for their approvers, for over a day."""
    since = span.as_of - APPROVAL_WAIT
    resets = session.scalar(
        select(func.count()).where(
            ResetRequest.status == "pending",
            ResetRequest.method == "manager_approval",
            ResetRequest.created_at < since,
        )
    )
    access = session.scalar(
        select(func.count()).where(AccessRequest.status == "pending", AccessRequest.created_at < since)
    )
    return int(resets or 0) + int(access or 0)


def _incidents(session: Session, span: Period) -> dict[str, Any]:
    """Open at the end of the period (count and titles), and declared / resolved within it."""
    still_open = and_(
        Incident.declared_at < span.end,
        or_(Incident.resolved_at.is_(None), Incident.resolved_at >= span.end),
    )
    listed = session.execute(
        select(Incident.id, Incident.title)
        .where(still_open)
        .order_by(Incident.declared_at, Incident.id)
        .limit(OPEN_INCIDENTS_LISTED)
    ).all()
    declared, resolved, open_count = session.execute(
        select(
            _count(_within(Incident.declared_at, span)),
            _count(_within(Incident.resolved_at, span)),
            _count(still_open),
        )
    ).one()
    return {
        "open": int(open_count or 0),
        "titles": [{"id": int(i), "title": hide_secrets(t)} for i, t in listed],
        "declared": int(declared or 0),
        "resolved": int(resolved or 0),
    }


# --- the 7-day trend -------------------------------------------------------------------------------------


def _trend(session: Session, span: Period) -> list[dict[str, Any]]:
    """Per day of the 7 ending with the period: requests (tickets, resets/unlocks, questions), what the bot
    resolved (resets/unlocks done, honest deflections) and the deflection rate; one query per table."""
    days = [span.last - timedelta(days=n) for n in range(TREND_DAYS - 1, -1, -1)]
    bounds = [span.day_bounds(day) for day in days]
    tickets = _per_day(session, Ticket.created_at, bounds)
    requests = _per_day(session, ResetRequest.created_at, bounds)
    done = _per_day(session, ResetRequest.updated_at, bounds, ResetRequest.status == "done")
    asked = _per_day(session, KbQuestion.created_at, bounds)
    deflected = _per_day(session, KbQuestion.created_at, bounds, _deflected(session))
    return [
        {
            "day": day.isoformat(),
            "requests": tickets[i] + requests[i] + asked[i],
            "tickets": tickets[i],
            "bot_resolved": done[i] + deflected[i],
            "deflection_rate": _rate(deflected[i], asked[i]),
        }
        for i, day in enumerate(days)
    ]


def _per_day(
    session: Session, column: Any, bounds: list[tuple[datetime, datetime]], *where: ColumnElement[bool]
) -> list[int]:
    first, last = bounds[0][0], bounds[-1][1]
    row = session.execute(
        select(*(_count(and_(column >= a, column < b)) for a, b in bounds)).where(
            column >= first, column < last, *where
        )
    ).one()
    return [int(value or 0) for value in row]


# --- helpers ---------------------------------------------------------------------------------------------


def _grants_ending(session: Session, span: Period) -> int:
    """Active time-bound grants that end in the day after the period (the day the digest is read)."""
    until = span.end + timedelta(days=1)
    statement = select(func.count()).where(
        AccessGrant.status == "active", AccessGrant.expires_at >= span.end, AccessGrant.expires_at < until
    )
    return int(session.scalar(statement) or 0)


def _within(column: Any, span: Period) -> ColumnElement[bool]:
    return and_(column >= span.start, column < span.end)


def _count(condition: ColumnElement[bool]) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _rate(part: int, whole: int) -> float | None:
    return None if not whole else round(part / whole, 3)


def _seconds_between(session: Session) -> Any:
    """later − earlier in seconds, as this database computes it."""
    if session.get_bind().dialect.name == "postgresql":
        return lambda later, earlier: func.extract("epoch", later - earlier)
    return lambda later, earlier: (func.julianday(later) - func.julianday(earlier)) * 86400.0
