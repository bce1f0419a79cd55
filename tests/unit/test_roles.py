"""Issue 9, item 12: roles that mean something — a manager's commands, a technician's own tickets, an
employee withdrawing a ticket, and a ticket's transcript that holds only the turns about its problem."""

from __future__ import annotations

from sqlalchemy import select

from bot.store.models import KbQuestion, Ticket, TicketEvent
from tests.conftest import Harness, build_bot
from tests.unit.test_tickets_flow import open_ticket

ADA, BOB, TESS, TOM, GRACE = (
    "ada@example.com",
    "bob@example.com",
    "tess@example.com",
    "tom@example.com",
    "grace@example.com",
)


def test_a_manager_gets_no_article_for_technician_commands(harness: Harness) -> None:
    for command in ("queue", "show 1"):
        replies = harness.say(GRACE, command)
        assert "technician command" in replies[0].text and "approvals" in replies[0].text
    with harness.bot.sessions() as s:
        assert s.scalars(select(KbQuestion)).all() == []


def test_a_manager_sees_the_approvals_waiting_for_them(sqlite_url: str) -> None:
    h = Harness(build_bot(sqlite_url, reset_verification="manager_approval")[0])
    assert "nothing waiting" in h.say(GRACE, "approvals")[0].text
    h.say(ADA, "I forgot my password")
    waiting = h.say(GRACE, "approvals waiting for me")[0]
    assert "Ada Lovelace" in waiting.text and "password reset" in waiting.text
    approve = h.button([waiting], "Approve Ada Lovelace")
    assert any(r.secret for r in h.press(GRACE, approve) if r.to == ADA)
    assert "nothing waiting" in h.say(GRACE, "approvals")[0].text


def test_a_manager_sees_their_teams_open_tickets(harness: Harness) -> None:
    ticket_id = open_ticket(harness, who=ADA, text="my monitor flickers")
    other = open_ticket(harness, who=TESS, text="my keyboard is sticky")  # Tess has no manager
    team = harness.say(GRACE, "my team's tickets")[0].text
    assert f"#{ticket_id}" in team and "Ada Lovelace" in team and f"#{other}" not in team
    assert f"#{ticket_id}" in harness.say(GRACE, "team tickets")[0].text
    assert "technician command" in harness.say(ADA, "queue")[0].text  # an employee has neither


def test_a_technician_sees_the_tickets_assigned_to_them(harness: Harness) -> None:
    mine = open_ticket(harness, text="my monitor flickers")
    theirs = open_ticket(harness, who=BOB, text="my keyboard is sticky")
    harness.say(TESS, f"claim {mine}")
    harness.say(TOM, f"claim {theirs}")
    listed = harness.say(TESS, "mine")[0].text
    assert f"#{mine}" in listed and f"#{theirs}" not in listed
    assert f"#{mine}" in harness.say(TESS, "assigned to me")[0].text


def test_an_employee_withdraws_their_ticket_with_a_reason(harness: Harness) -> None:
    ticket_id = open_ticket(harness)
    harness.say(TESS, f"claim {ticket_id}")
    replies = harness.say(ADA, f"withdraw {ticket_id} found the loose cable myself")
    assert "withdrawn" in Harness.to(replies, ADA)[0].text
    told = " ".join(r.text for r in Harness.to(replies, TESS))
    assert "withdrew" in told and "found the loose cable myself" in told
    with harness.bot.sessions() as s:
        assert s.get(Ticket, ticket_id).status == "closed"
        event = s.scalars(select(TicketEvent).where(TicketEvent.kind == "withdrawn")).one()
        assert event.text == "found the loose cable myself"


def test_cancel_ticket_withdraws_an_unclaimed_ticket_and_triage_hears(harness: Harness) -> None:
    ticket_id = open_ticket(harness)
    replies = harness.say(ADA, f"cancel ticket {ticket_id}")
    assert "withdrawn" in Harness.to(replies, ADA)[0].text
    assert any(f"#{ticket_id}" in r.text and "withdr" in r.text for r in Harness.to(replies, "#triage"))


def test_nobody_withdraws_someone_elses_ticket(harness: Harness) -> None:
    ticket_id = open_ticket(harness)
    replies = harness.say(BOB, f"withdraw {ticket_id} not needed")
    assert "can't find a ticket" in replies[0].text
    assert replies[0].text == harness.say(BOB, "withdraw 999 not needed")[0].text.replace(
        "999", str(ticket_id)
    )
    with harness.bot.sessions() as s:
        assert s.get(Ticket, ticket_id).status == "new"


def test_a_new_tickets_transcript_holds_only_the_turns_about_its_problem(harness: Harness) -> None:
    answered = harness.say(ADA, "how do I add a printer")  # a different problem, solved
    harness.press(ADA, harness.button(answered, "That solved it"))
    harness.say(ADA, "thanks")
    ticket_id = open_ticket(harness, text="my monitor flickers when I open Excel")
    with harness.bot.sessions() as s:
        transcript = s.get(Ticket, ticket_id).transcript
    assert "my monitor flickers when I open Excel" in transcript
    assert "printer" not in transcript.lower() and "Ada Lovelace: thanks" not in transcript
