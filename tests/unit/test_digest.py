"""The managers' digest on a seeded history: every figure checked against numbers worked out by hand
(in the comments), on SQLite and PostgreSQL; an empty day and an empty database render cleanly."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from bot.store.models import KbQuestion, ResetRequest, Ticket, TicketEvent
from handlers import digest, digest_report
from tests.conftest import build_bot

DAY = date(2026, 11, 30)  # a Monday; the period is that day, in UTC
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def ticket(s: Session, created: datetime, **fields: Any) -> Ticket:
    row = Ticket(
        subject=fields.pop("subject", "a problem"),
        problem="a problem",
        requester_email=fields.pop("requester", "someone@example.com"),
        created_at=created,
        updated_at=created,
        **fields,
    )
    s.add(row)
    s.flush()
    return row


def event(s: Session, row: Ticket, kind: str, moment: datetime, **data: Any) -> None:
    s.add(TicketEvent(ticket_id=row.id, at=moment, actor_email="tess@example.com", kind=kind, data=data))


def reset(s: Session, n: int, kind: str, status: str, created: datetime, **fields: Any) -> None:
    s.add(
        ResetRequest(
            correlation_id=f"corr-{n}",
            person_email="ada@example.com",
            kind=kind,
            method=fields.pop("method", "email_code"),
            status=status,
            created_at=created,
            updated_at=fields.pop("updated", created),
        )
    )


def question(s: Session, who: str, text: str, outcome: str, moment: datetime, article: str | None) -> None:
    s.add(
        KbQuestion(
            person_email=who,
            text=text,
            outcome=outcome,
            article_id=article,
            created_at=moment,
            updated_at=moment,
        )
    )


def seed(s: Session) -> None:
    # Opened on the day: T1, T2, T3, T5.
    t1 = ticket(s, at(30, 9), urgent=True, category="hardware", status="resolved", resolved_at=at(30, 11))
    event(s, t1, "claimed", at(30, 9, 10))  # first response 10 min (urgent target 30: met)
    event(s, t1, "message_to_requester", at(30, 9, 20))
    event(s, t1, "resolved", at(30, 11))  # resolution 120 min; one message, never reopened: first contact
    t1.rating = 5
    event(s, t1, "rated", at(30, 11, 30))
    t2 = ticket(
        s,
        at(30, 10),
        category="software",
        status="resolved",
        resolved_at=at(30, 16),
        requester="fred@example.com",
    )
    event(s, t2, "claimed", at(30, 13))  # first response 180 min (normal target 240: met)
    event(s, t2, "message_to_requester", at(30, 13))
    event(s, t2, "message_to_requester", at(30, 14))  # two messages: not first contact
    t2.rating, t2.rating_comment = 2, "slow answer"
    event(s, t2, "rated", at(30, 16, 30))  # resolution 360 min
    ticket(s, at(30, 12), urgent=True, category="hardware")  # T3: unclaimed; by midnight 12 h: both breached
    ticket(s, at(30, 20, 30), category="question")  # T5: unclaimed, 3.5 h old at midnight: no breach
    # Opened before the day.
    t4 = ticket(s, at(25, 8), status="claimed", assignee_email="tess@example.com")  # backlog 3-7 days
    event(s, t4, "claimed", at(25, 8, 30))
    t6 = ticket(s, at(22, 10), urgent=True, status="waiting", assignee_email="tom@example.com")  # over 7 days
    event(s, t6, "claimed", at(22, 10, 5))
    t7 = ticket(s, at(28, 9), status="resolved", resolved_at=at(30, 9))  # resolved on the day: 2880 min
    event(s, t7, "message_to_requester", at(28, 10))
    event(s, t7, "reopened", at(29, 9))  # reopened once: not first contact
    # Resets and unlocks.
    reset(s, 1, "reset", "done", at(30, 8), updated=at(30, 8, 5))
    reset(s, 2, "unlock", "done", at(30, 9), updated=at(30, 9, 1))
    reset(s, 3, "reset", "failed", at(30, 10))
    reset(s, 4, "reset", "pending", at(29, 10), method="manager_approval")  # waiting more than a day
    reset(s, 5, "unlock", "done", at(29, 10), updated=at(29, 10, 1))  # the day before: trend only
    # Questions on the day.
    question(s, "eve@example.com", "how do I connect to the VPN", "helpful", at(30, 9), "vpn")  # deflected
    question(s, "fred@example.com", "outlook keeps crashing", "helpful", at(30, 9, 30), "outlook")  # T2 after
    question(s, "gil@example.com", "printer jams on floor 3", "not_helpful", at(30, 11), "printers")
    question(s, "hal@example.com", "printer jams on floor 3  ", "unanswered", at(30, 12), None)
    question(s, "ivy@example.com", "where is the coffee machine", "escalated", at(30, 13), None)
    question(s, "jon@example.com", "reset mfa", "answered", at(30, 14), "mfa")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    if request.param == "sqlite":
        return sqlite_url
    return str(request.getfixturevalue("fresh_postgres_url"))


def test_the_figures_of_a_seeded_day_are_exactly_right(database: str, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    frozen_clock(NOW)
    bot, services = build_bot(database)
    with bot.sessions.begin() as s:
        seed(s)
    with bot.sessions() as s:
        numbers = digest.figures(s, services.settings, digest.period(DAY, 1, "UTC"))
    assert numbers["requests"] == {
        "tickets": {"hardware": 2, "question": 1, "software": 1},
        "resets": 2,
        "unlocks": 1,
        "kb_questions": 6,
        "access": 0,
    }
    # 1 reset × 15 + 1 unlock × 10 + 1 honest deflection × 10 (the documented defaults)
    assert numbers["automation"] == {
        "resets_done": 1,
        "unlocks_done": 1,
        "kb_answers": 1,
        "grants_done": 0,
        "resolved": 3,
        "minutes_saved": 35,
    }
    assert numbers["kb"] == {
        "asked": 6,
        "answered": 4,
        "confirmed_helpful": 2,
        "not_helpful": 1,
        "escalated": 1,
        "unanswered": 1,
        "taken_back": 1,  # Fred opened T2 half an hour after confirming
        "deflected": 1,
        "deflection_rate": 0.167,
        "top_unanswered": [
            {"text": "printer jams on floor 3", "times": 2},
            {"text": "where is the coffee machine", "times": 1},
        ],
    }
    assert numbers["tickets"] == {
        "opened": 4,
        "resolved": 3,  # T1, T2, T7
        "backlog": {"under 1 day": 2, "1-3 days": 0, "3-7 days": 1, "over 7 days": 1},
        "unclaimed": 2,
        "sla_breaches": {"first_response": 1, "resolution": 1},
        "median_first_response_minutes": 95.0,  # of 10 and 180
        "median_resolution_minutes": 360.0,  # of 120, 360, 2880
        "first_contact_resolved": 1,
        "first_contact_rate": 0.333,
    }
    assert numbers["satisfaction"] == {
        "average": 3.5,
        "count": 2,
        "low": [{"ticket": 2, "rating": 2, "comment": "slow answer"}],
    }
    assert numbers["approvals_waiting"] == 1
    assert numbers["incidents"] == {"open": 0, "titles": [], "declared": 0, "resolved": 0}
    assert numbers["grants_expiring"] == 0
    trend = {
        row["day"]: (row["requests"], row["bot_resolved"], row["deflection_rate"]) for row in numbers["trend"]
    }
    assert trend == {
        "2026-11-24": (0, 0, None),
        "2026-11-25": (1, 0, None),  # T4
        "2026-11-26": (0, 0, None),
        "2026-11-27": (0, 0, None),
        "2026-11-28": (1, 0, None),  # T7
        "2026-11-29": (2, 1, None),  # R4, R5; R5 done
        "2026-11-30": (13, 3, 0.167),  # 4 tickets + 3 requests + 6 questions; 2 done + 1 deflected
    }
    text = digest_report.render(numbers)
    assert "Tickets: 4 opened, 3 resolved, 2 unclaimed; backlog 4" in text
    assert "median first response 95 min, resolution 6.0 h" in text
    assert "#2 rated 2: slow answer" in text
    assert "honest deflection 17%" in text
    assert "printer jams on floor 3 (×2)" in text
    assert "Open incidents: none (0 declared, 0 resolved in the period)" in text
    json.dumps(numbers)  # every figure is JSON-ready


def test_a_period_of_several_days_counts_them_all(sqlite_url: str, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    frozen_clock(NOW)
    bot, services = build_bot(sqlite_url)
    with bot.sessions.begin() as s:
        seed(s)
    with bot.sessions() as s:
        week = digest.figures(s, services.settings, digest.period(DAY, 7, "UTC"))
    # T1, T2, T3, T5 on the 30th, T7 on the 28th, T4 on the 25th (T6 on the 22nd is outside)
    assert sum(week["requests"]["tickets"].values()) == 6
    assert (week["requests"]["resets"], week["requests"]["unlocks"]) == (3, 2)
    assert week["automation"]["unlocks_done"] == 2


def test_a_period_still_running_counts_only_targets_already_missed(sqlite_url: str, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    frozen_clock(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    bot, services = build_bot(sqlite_url)
    with bot.sessions.begin() as s:
        ticket(s, at(1, 9, 55, month=12))  # normal: first response due at 13:55, resolution in 3 days
        ticket(s, at(1, 9, 0, month=12), urgent=True)  # urgent: first response was due at 9:30
    today = digest.period(date(2026, 12, 1), 1, "UTC")  # ends at midnight, 14 h from now
    with bot.sessions() as s:
        now_figures = digest.figures(s, services.settings, today)
    assert now_figures["tickets"]["sla_breaches"] == {"first_response": 1, "resolution": 0}
    frozen_clock(datetime(2026, 12, 1, 14, 0, tzinfo=UTC))  # 13:55 has passed too
    with bot.sessions() as s:
        later = digest.figures(s, services.settings, today)
    assert later["tickets"]["sla_breaches"] == {"first_response": 2, "resolution": 0}


def test_the_local_day_follows_the_time_zone(sqlite_url: str, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    frozen_clock(NOW)
    bot, services = build_bot(sqlite_url)
    with bot.sessions.begin() as s:
        ticket(s, at(30, 20, 30))  # 20:30 UTC is already 1 December in Tokyo (UTC+9)
    with bot.sessions() as s:
        tokyo = digest.figures(s, services.settings, digest.period(DAY, 1, "Asia/Tokyo"))
        utc = digest.figures(s, services.settings, digest.period(DAY, 1, "UTC"))
    assert (tokyo["tickets"]["opened"], utc["tickets"]["opened"]) == (0, 1)


def test_an_empty_database_and_a_quiet_day_render_cleanly(database: str, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    frozen_clock(NOW)
    bot, services = build_bot(database)
    with bot.sessions() as s:
        empty = digest.figures(s, services.settings, digest.period(DAY, 1, "UTC"))
    assert empty["tickets"]["opened"] == 0 and empty["kb"]["deflection_rate"] is None
    assert empty["tickets"]["median_first_response_minutes"] is None
    assert empty["satisfaction"] == {"average": None, "count": 0, "low": []}
    text = digest_report.render(empty)
    assert "Tickets: 0 opened, 0 resolved, 0 unclaimed" in text
    assert "Satisfaction: no ratings" in text and "None" not in text
    with bot.sessions.begin() as s:
        seed(s)
    with bot.sessions() as s:
        quiet = digest.figures(s, services.settings, digest.period(DAY - timedelta(days=3), 1, "UTC"))
    assert quiet["tickets"]["opened"] == 0 and quiet["kb"]["asked"] == 0
    # at the end of the 27th: T4 (opened on the 25th) 2 2/3 days old, T6 (the 22nd) 5 2/3 days
    assert quiet["tickets"]["backlog"] == {"under 1 day": 0, "1-3 days": 1, "3-7 days": 1, "over 7 days": 0}
    assert "None" not in digest_report.render(quiet)


def test_access_requests_and_grants_count_once_they_happen(sqlite_url: str, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    from bot.store.models import AccessGrant, AccessRequest

    frozen_clock(NOW)
    bot, services = build_bot(sqlite_url)
    with bot.sessions.begin() as s:
        for n, created in enumerate((at(30, 9), at(30, 15), at(29, 9))):  # two on the day, one the day before
            s.add(
                AccessRequest(
                    correlation_id=f"c{n}",
                    person_email="ada@example.com",
                    person_id="ada",
                    entry_id="vpn",
                    group="vpn-users",
                    created_at=created,
                    updated_at=created,
                    expires_at=at(4, 9, month=12),
                )
            )

        def grant(granted: datetime, expires: datetime | None, *, pre_existing: bool = False) -> None:
            s.add(
                AccessGrant(
                    person_email="ada@example.com",
                    person_id="ada",
                    entry_id="vpn",
                    group="vpn-users",
                    granted_at=granted,
                    expires_at=expires,
                    pre_existing=pre_existing,
                )
            )

        grant(at(30, 10), at(1, 12, month=12))  # granted on the day, ends the next day: counted twice
        grant(at(30, 11), at(5, 9, month=12), pre_existing=True)  # the person had it: not the bot's work
        grant(at(28, 10), None)  # permanent, granted earlier
    with bot.sessions() as s:
        numbers = digest.figures(s, services.settings, digest.period(DAY, 1, "UTC"))
    assert numbers["requests"]["access"] == 2
    assert numbers["automation"]["grants_done"] == 1
    # 1 grant × 20 minutes (the documented default), nothing else happened
    assert numbers["automation"]["minutes_saved"] == 20 and numbers["automation"]["resolved"] == 1
    assert numbers["grants_expiring"] == 1
    assert numbers["approvals_waiting"] == 1  # the 29th's request, 39 h old at midnight; the 30th's are not
