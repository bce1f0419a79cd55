"""Service targets with a controlled clock: an unclaimed urgent ticket pings the triage channel once per
target period (never in a loop), a ticket nearing its resolution target reminds its assignee once, and
the card and `show N` say how long is left."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.store.models import Ticket, TicketEvent
from handlers import jobs
from tests.conftest import Harness, build_bot

ADA, TESS = "ada@example.com", "tess@example.com"


def run(h: Harness) -> list:  # type: ignore[no-untyped-def]
    before = len(h.recorder.delivered)
    h.bot.run_job("watch_service_targets", jobs.watch_service_targets)
    h.bot.delivery.dispatcher.run_due()
    return h.recorder.delivered[before:]


def open_ticket(h: Harness, urgency: str) -> int:
    h.say(ADA, "talk to a human")
    h.say(ADA, "The projector shows no picture")
    h.say(ADA, urgency)
    with h.bot.sessions() as s:
        return int(s.scalar(select(func.max(Ticket.id))) or 0)


def events(h: Harness, kind: str) -> int:
    with h.bot.sessions() as s:
        return int(s.scalar(select(func.count()).where(TicketEvent.kind == kind)) or 0)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_an_unclaimed_urgent_ticket_pings_triage_once_per_period(
    database: str, request: pytest.FixtureRequest, sqlite_url: str, clock
) -> None:  # type: ignore[no-untyped-def]
    url = sqlite_url if database == "sqlite" else str(request.getfixturevalue("fresh_postgres_url"))
    h = Harness(build_bot(url, sla_first_response_urgent=30)[0])
    ticket = open_ticket(h, "urgent")
    open_ticket(h, "not urgent")  # a normal ticket never pings triage
    clock(minutes=29)
    assert run(h) == []
    clock(minutes=2)
    pinged = run(h)
    assert [r.to for r in pinged] == ["#triage"]
    assert f"URGENT ticket #{ticket} has waited 31 min with nobody on it" in pinged[0].text
    assert "Claim" in [b.label for b in pinged[0].buttons]
    for _ in range(3):
        clock(minutes=5)
        assert run(h) == []  # not in a loop
    clock(minutes=15)  # a whole target period since the ping, and still nobody
    assert [r.to for r in run(h)] == ["#triage"]
    assert events(h, "sla_ping") == 2
    h.say(TESS, f"claim {ticket}")
    clock(hours=2)
    assert [r.to for r in run(h) if r.to == "#triage"] == []  # taken: no more pings


def test_an_assignee_is_reminded_once_before_the_resolution_target(sqlite_url: str, clock) -> None:  # type: ignore[no-untyped-def]
    h = Harness(build_bot(sqlite_url, sla_resolution_normal=10, sla_warning_percent=80)[0])
    ticket = open_ticket(h, "not urgent")
    h.say(TESS, f"claim {ticket}")
    clock(hours=7, minutes=59)  # 80% of 10 hours is 8 hours
    assert run(h) == []
    clock(minutes=2)
    reminded = run(h)
    assert [r.to for r in reminded] == [TESS]
    assert (
        f"Ticket #{ticket} is nearing its resolution target (resolution due in 1 h 59 min)"
        in reminded[0].text
    )
    clock(hours=1)
    assert run(h) == []  # once
    assert events(h, "sla_reminder") == 1


def test_the_card_and_show_say_how_long_is_left(sqlite_url: str, clock) -> None:  # type: ignore[no-untyped-def]
    h = Harness(build_bot(sqlite_url, sla_first_response_urgent=30, sla_resolution_urgent=8)[0])
    ticket = open_ticket(h, "urgent")
    triage = [r for r in h.recorder.delivered if r.to == "#triage" and r.card is not None][-1]
    assert ("Target", "first response due in 30 min; resolution due in 8 h") in triage.card.fields
    clock(minutes=45)
    shown = h.say(TESS, f"show {ticket}")
    card = next(r.card for r in shown if r.card is not None)
    assert ("Target", "first response overdue by 15 min; resolution due in 7 h 15 min") in card.fields
    claimed = h.say(TESS, f"claim {ticket}")
    card = next(r.card for r in claimed if r.card is not None and r.to == TESS)
    assert ("Target", "resolution due in 7 h 15 min") in card.fields
    h.say(TESS, f"resolve {ticket} Replaced the cable")
    shown = h.say(TESS, f"show {ticket}")
    card = next(r.card for r in shown if r.card is not None)
    assert all(label != "Target" for label, _ in card.fields)  # done: no target left
