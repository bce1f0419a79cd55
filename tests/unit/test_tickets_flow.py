"""The ticket lifecycle through the engine, as people drive it (SQLite; PostgreSQL in integration)."""

from __future__ import annotations

from sqlalchemy import select

from bot.store.models import KbExample, KbQuestion, Ticket, TicketEvent
from tests.conftest import Harness

ADA, BOB, TESS, TOM = "ada@example.com", "bob@example.com", "tess@example.com", "tom@example.com"


def open_ticket(h: Harness, who: str = ADA, text: str = "my monitor flickers", urgent: bool = False) -> int:
    replies = h.say(who, text)
    h.press(who, h.button(replies, "Open a ticket"))
    done = h.press(who, "new_ticket.urgency:" + ("urgent" if urgent else "normal"))
    ticket_id = h.to(done, who)[-1].ticket
    assert ticket_id is not None
    return ticket_id


def session_of(h: Harness):
    return h.bot.sessions()


def test_unanswered_question_becomes_ticket_filled_from_directory(harness: Harness) -> None:
    replies = harness.say(ADA, "my monitor flickers when I open Excel")
    assert "don't have an article" in replies[0].text
    urgency = harness.press(ADA, harness.button(replies, "Open a ticket"))
    assert "urgent" in urgency[0].text.lower()
    assert [b.label for b in urgency[0].buttons][:2] == ["Urgent", "Not urgent"]
    done = harness.press(ADA, "new_ticket.urgency:urgent")
    ticket_id = harness.to(done, ADA)[0].ticket
    triage = harness.to(done, "#triage")
    assert triage and triage[0].ticket == ticket_id and "Claim" in [b.label for b in triage[0].buttons]
    with session_of(harness) as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket.urgent and ticket.status == "new"
        assert ticket.problem == "my monitor flickers when I open Excel"
        assert (
            ticket.requester_department,
            ticket.requester_title,
            ticket.requester_location,
            ticket.requester_manager,
        ) == ("Finance", "Analyst", "London", "grace@example.com")
        assert "my monitor flickers" in ticket.transcript
        assert s.scalars(select(KbQuestion)).one().outcome == "escalated"


def test_answered_question_confirmed_teaches_the_article(harness: Harness) -> None:
    replies = harness.say(ADA, "how do I set up the vpn on my laptop")
    assert "Connect to the VPN" in replies[0].text and "Did this solve it?" in replies[0].text
    harness.press(ADA, harness.button(replies, "That solved it"))
    with session_of(harness) as s:
        assert s.scalars(select(KbQuestion)).one().outcome == "helpful"
        assert [e.text for e in s.scalars(select(KbExample))] == ["how do I set up the vpn on my laptop"]


def test_not_helpful_offers_next_article_then_a_ticket_with_what_was_tried(harness: Harness) -> None:
    replies = harness.say(ADA, "vpn problem")
    second = harness.press(ADA, harness.button(replies, "Not what I need"))
    assert "VPN keeps disconnecting" in second[0].text
    third = harness.press(ADA, harness.button(second, "Not what I need"))
    assert "Open a ticket" in [b.label for b in third[0].buttons]
    harness.press(ADA, harness.button(third, "Open a ticket"))
    done = harness.press(ADA, "new_ticket.urgency:normal")
    with session_of(harness) as s:
        ticket = s.get(Ticket, harness.to(done, ADA)[0].ticket)
        assert "vpn-setup" in ticket.transcript and "vpn-troubleshoot" in ticket.transcript


def test_talk_to_human_asks_for_the_problem_then_urgency(harness: Harness) -> None:
    first = harness.say(BOB, "I want to talk to a human")
    assert "what's the problem" in first[0].text.lower()
    second = harness.say(BOB, "Outlook crashes whenever I attach a file")
    assert "urgent" in second[0].text.lower()
    done = harness.say(BOB, "not urgent")
    with session_of(harness) as s:
        ticket = s.get(Ticket, harness.to(done, BOB)[0].ticket)
        assert ticket.problem == "Outlook crashes whenever I attach a file" and not ticket.urgent


def test_queue_puts_unclaimed_urgent_first_then_oldest(harness: Harness) -> None:
    old = open_ticket(harness, ADA, "old normal problem")
    urgent = open_ticket(harness, BOB, "urgent problem", urgent=True)
    newer = open_ticket(harness, ADA, "newer normal problem")
    harness.say(TESS, f"claim {old}")
    queue = harness.say(TESS, "queue")[0].text.splitlines()[1:]
    order = [int(line.split("#")[1].split()[0]) for line in queue]
    assert order == [urgent, newer, old]


def test_claim_is_first_wins_and_second_is_told_who(harness: Harness) -> None:
    ticket = open_ticket(harness)
    first = harness.press(TESS, f"ticket.claim:{ticket}")
    assert f"#{ticket} is yours" in harness.to(first, TESS)[0].text
    assert any(r.to == ADA and "Tess Tech is now working" in r.text for r in first)
    second = harness.press(TOM, f"ticket.claim:{ticket}")
    assert second[0].text == f"Ticket #{ticket} is already claimed by Tess Tech."
    with session_of(harness) as s:
        assert s.get(Ticket, ticket).assignee_email == TESS


def test_employees_cannot_use_technician_buttons(harness: Harness) -> None:
    ticket = open_ticket(harness)
    replies = harness.press(BOB, f"ticket.claim:{ticket}")
    assert "Only service desk technicians" in replies[0].text
    assert "Open tickets" not in harness.say(BOB, "queue")[0].text  # for employees "queue" is no command
    with session_of(harness) as s:
        assert s.get(Ticket, ticket).assignee_email is None


def test_relay_both_ways_and_follow_up_lands_on_ticket(harness: Harness) -> None:
    ticket = open_ticket(harness)
    harness.say(TESS, f"claim {ticket}")
    sent = harness.say(TESS, f"reply {ticket} Which monitor model is it?")
    to_ada = harness.to(sent, ADA)
    assert to_ada and "Which monitor model is it?" in to_ada[0].text and to_ada[0].ticket == ticket
    back = harness.say(ADA, "A Dell U2720Q")
    assert f"Added to ticket #{ticket}" in harness.to(back, ADA)[0].text
    assert any(r.to == TESS and "A Dell U2720Q" in r.text for r in back)
    with session_of(harness) as s:
        kinds = [
            (e.kind, e.text) for e in s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket))
        ]
        assert ("message_to_requester", "Which monitor model is it?") in kinds
        assert ("message_from_requester", "A Dell U2720Q") in kinds


def test_cancel_stops_relaying(harness: Harness) -> None:
    ticket = open_ticket(harness)
    harness.say(TESS, f"reply {ticket} Can you restart?")
    harness.say(ADA, "cancel")
    replies = harness.say(ADA, "how do I set up the vpn")
    assert "Connect to the VPN" in replies[0].text


def test_reply_button_takes_the_next_message(harness: Harness) -> None:
    ticket = open_ticket(harness)
    prompt = harness.press(TESS, f"ticket.reply:{ticket}")
    assert "Type your reply" in prompt[0].text
    sent = harness.say(TESS, "Please try another cable")
    assert harness.to(sent, ADA)[0].text.endswith("Please try another cable")


def test_internal_note_never_reaches_requester(harness: Harness) -> None:
    ticket = open_ticket(harness)
    replies = harness.say(TESS, f"note {ticket} probably the dock firmware")
    assert not harness.to(replies, ADA)
    with session_of(harness) as s:
        assert s.scalars(select(TicketEvent).where(TicketEvent.kind == "note")).one().text == (
            "probably the dock firmware"
        )


def test_flag_tells_requester_why_it_takes_longer(harness: Harness) -> None:
    ticket = open_ticket(harness)
    harness.say(TESS, f"claim {ticket}")
    replies = harness.say(TESS, f"flag {ticket} needs_budget")
    assert "budget approval" in harness.to(replies, ADA)[0].text
    assert "budget approval" in harness.say(ADA, "my tickets")[0].text
    assert "Unknown flag" in harness.say(TESS, f"flag {ticket} needs_coffee")[0].text


def test_resolve_rate_comment_close_and_reopen(harness: Harness) -> None:
    ticket = open_ticket(harness)
    harness.say(TESS, f"claim {ticket}")
    resolved = harness.say(TESS, f"resolve {ticket} Replaced the DisplayPort cable")
    to_ada = harness.to(resolved, ADA)[0]
    assert "Replaced the DisplayPort cable" in to_ada.text
    assert [b.label for b in to_ada.buttons][:5] == ["1 poor", "2", "3", "4", "5 great"]
    rated = harness.press(ADA, f"ticket.rate:{ticket}:5")
    assert any(r.to == TESS and "5/5" in r.text for r in rated)
    harness.say(ADA, "Fast and friendly")
    with session_of(harness) as s:
        t = s.get(Ticket, ticket)
        assert (t.status, t.rating, t.rating_comment) == ("closed", 5, "Fast and friendly")
    reopened = harness.say(ADA, f"reopen {ticket} it flickers again")
    assert any(r.to == TESS and "reopened" in r.text for r in reopened)
    with session_of(harness) as s:
        assert s.get(Ticket, ticket).status == "claimed"


def test_only_the_requester_rates(harness: Harness) -> None:
    ticket = open_ticket(harness)
    harness.say(TESS, f"resolve {ticket} fixed")
    assert "Only the person who asked" in harness.press(BOB, f"ticket.rate:{ticket}:1")[0].text


def test_reassign_to_another_technician_only(harness: Harness) -> None:
    ticket = open_ticket(harness)
    harness.say(TESS, f"claim {ticket}")
    assert "not a technician" in harness.say(TESS, f"assign {ticket} bob@example.com")[0].text
    replies = harness.say(TESS, f"assign {ticket} tom@example.com")
    assert any(r.to == TOM and f"#{ticket}" in r.text for r in replies)
    with session_of(harness) as s:
        assert s.get(Ticket, ticket).assignee_email == TOM


def test_status_history_records_every_change(harness: Harness) -> None:
    ticket = open_ticket(harness)
    for command in (
        f"claim {ticket}",
        f"waiting {ticket}",
        f"unclaim {ticket}",
        f"claim {ticket}",
        f"resolve {ticket} done",
        f"reopen {ticket}",
        f"close {ticket}",
    ):
        harness.say(TESS, command)
    with session_of(harness) as s:
        kinds = [e.kind for e in s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket))]
    assert kinds == [
        "created",
        "claimed",
        "waiting",
        "unclaimed",
        "claimed",
        "resolved",
        "reopened",
        "closed",
    ]
