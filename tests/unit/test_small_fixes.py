"""Issue 9, item 11 (part A): one rating per resolution, `reopen N` tells nobody which tickets exist,
technician commands from employees are no knowledge gaps, and a negated hazard is no emergency."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.store.models import KbQuestion, Ticket, TicketEvent
from kb.intent.guards import is_safety_hazard
from tests.conftest import Harness
from tests.unit.test_tickets_flow import open_ticket

ADA, BOB, TESS = "ada@example.com", "bob@example.com", "tess@example.com"


def _resolve(h: Harness, ticket_id: int) -> None:
    h.say(TESS, f"claim {ticket_id}")
    h.say(TESS, f"resolve {ticket_id} replaced the cable")


def test_a_resolution_is_rated_once(harness: Harness) -> None:
    ticket_id = open_ticket(harness)
    _resolve(harness, ticket_id)
    harness.press(ADA, f"ticket.rate:{ticket_id}:5")
    again = harness.press(ADA, f"ticket.rate:{ticket_id}:1")
    assert "already rated" in again[0].text and not Harness.to(again, TESS)
    with harness.bot.sessions() as s:
        assert s.get(Ticket, ticket_id).rating == 5
        rated = s.scalars(select(TicketEvent).where(TicketEvent.kind == "rated")).all()
        assert len(rated) == 1


def test_a_reopened_and_resolved_ticket_can_be_rated_again(harness: Harness) -> None:
    ticket_id = open_ticket(harness)
    _resolve(harness, ticket_id)
    harness.press(ADA, f"ticket.rate:{ticket_id}:2")
    harness.press(ADA, "rating_comment.skip")
    harness.say(ADA, f"reopen {ticket_id} it flickers again")
    harness.say(TESS, f"resolve {ticket_id} new monitor")
    harness.press(ADA, f"ticket.rate:{ticket_id}:5")
    with harness.bot.sessions() as s:
        assert s.get(Ticket, ticket_id).rating == 5


def test_reopen_answers_the_same_for_a_missing_ticket_and_someone_elses(harness: Harness) -> None:
    ticket_id = open_ticket(harness)
    _resolve(harness, ticket_id)
    someone_elses = harness.say(BOB, f"reopen {ticket_id}")[0].text
    missing = harness.say(BOB, "reopen 999")[0].text
    assert someone_elses.replace(str(ticket_id), "N") == missing.replace("999", "N")
    with harness.bot.sessions() as s:
        assert s.get(Ticket, ticket_id).status == "resolved"


@pytest.mark.parametrize("command", ["claim 3", "queue", "show 2", "resolve 1 fixed it", "note 4 hi"])
def test_technician_commands_from_an_employee_are_no_knowledge_gaps(harness: Harness, command: str) -> None:
    replies = harness.say(ADA, command)
    assert "technician command" in replies[0].text
    with harness.bot.sessions() as s:
        assert s.scalars(select(KbQuestion)).all() == []


@pytest.mark.parametrize(
    "text", ["printer on fire? no, just jammed", "it's not smoking", "no smoke, it just beeps", "no sparks"]
)
def test_a_negated_hazard_is_not_an_emergency(text: str) -> None:
    assert not is_safety_hazard(text)


@pytest.mark.parametrize(
    "text",
    ["it's on fire, not a drill", "no, it's really on fire", "the laptop is smoking", "no smoke but sparks"],
)
def test_a_hazard_is_still_an_emergency(text: str) -> None:
    assert is_safety_hazard(text)
