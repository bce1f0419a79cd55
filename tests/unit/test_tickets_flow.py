"""The ticket lifecycle through the engine, as people drive it (SQLite; PostgreSQL in integration)."""

from __future__ import annotations

from sqlalchemy import select

from bot.store.models import KbExample, KbQuestion, Ticket, TicketEvent
from tests.conftest import Harness, build_bot

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
    assert queue[-1] == f"#{old} old normal problem — claimed by tess@example.com — Ada Lovelace"


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
    assert "Your next message will be sent to Ada Lovelace" in prompt[0].text
    sent = harness.say(TESS, "Please try another cable")
    assert "about ticket #1: Please try another cable" in harness.to(sent, ADA)[0].text


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


# ---------------------------------------------------------------- every update reaches both sides (A4)


class RecordingMailer:
    """Stands in for SMTP: what would have been emailed, to whom."""

    enabled = True

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def send(self, to: str, subject: str, body: str) -> bool:
        self.sent.append((to, subject, body))
        return True

    def deliver(self, to: str, subject: str, body: str) -> str:
        self.send(to, subject, body)
        return f"<{len(self.sent)}@test>"

    def to(self, who: str) -> list[str]:
        return [body for to, _, body in self.sent if to == who]


def mailing_harness(sqlite_url: str) -> tuple[Harness, RecordingMailer]:
    bot, _ = build_bot(sqlite_url, smtp_host="smtp.invalid")
    mailer = RecordingMailer()
    bot.mailer = mailer  # type: ignore[assignment]
    bot.delivery.deliverers["email"].mailer = mailer  # type: ignore[attr-defined]
    return Harness(bot), mailer


def test_unclaim_tells_the_requester_in_chat_and_by_email(sqlite_url: str) -> None:
    h, mail = mailing_harness(sqlite_url)
    ticket = open_ticket(h)
    h.say(TESS, f"claim {ticket}")
    replies = h.say(TESS, f"unclaim {ticket}")
    told = h.to(replies, ADA)
    assert told and "no longer working on your ticket" in told[0].text
    assert any("no longer working on your ticket" in body for body in mail.to(ADA))
    assert any("back in the queue" in r.text for r in h.to(replies, "#triage"))


def test_reassign_tells_new_and_previous_assignee_and_requester(sqlite_url: str) -> None:
    h, mail = mailing_harness(sqlite_url)
    ticket = open_ticket(h)
    h.say(TESS, f"claim {ticket}")
    replies = h.press(TOM, f"ticket.assignto:{ticket}:{TOM}")
    assert "already claimed" not in " ".join(r.text for r in replies)
    assert "assigned to you" not in " ".join(r.text for r in h.to(replies, TOM))  # never told of own act
    assert "from you to Tom Fixit" in h.to(replies, TESS)[0].text
    assert "Tom Fixit is now working" in h.to(replies, ADA)[0].text
    assert any("from you to Tom Fixit" in body for body in mail.to(TESS))
    mail.sent.clear()
    replies = h.say(TOM, f"assign {ticket} tess@example.com")
    assert "assigned ticket" in h.to(replies, TESS)[0].text and h.to(replies, TESS)[0].card is not None
    assert any("assigned ticket" in body for body in mail.to(TESS))
    assert any("Tess Tech is now working" in body for body in mail.to(ADA))
    again = h.say(TOM, f"assign {ticket} tess@example.com")
    assert "already assigned to Tess Tech" in again[0].text


def test_rating_and_its_comment_reach_the_assignee_by_chat_and_email(sqlite_url: str) -> None:
    h, mail = mailing_harness(sqlite_url)
    ticket = open_ticket(h)
    h.say(TESS, f"claim {ticket}")
    h.say(TESS, f"resolve {ticket} new cable")
    rated = h.press(ADA, f"ticket.rate:{ticket}:4")
    assert "rated ticket" in h.to(rated, TESS)[0].text
    commented = h.say(ADA, "quick and kind")
    assert "quick and kind" in h.to(commented, TESS)[0].text
    bodies = mail.to(TESS)
    assert any("4/5" in b for b in bodies) and any("quick and kind" in b for b in bodies)


def test_flag_cleared_tells_the_requester(sqlite_url: str) -> None:
    h, mail = mailing_harness(sqlite_url)
    ticket = open_ticket(h)
    h.say(TESS, f"claim {ticket}")
    h.say(TESS, f"flag {ticket} needs_budget")
    replies = h.say(TESS, f"unflag {ticket} needs_budget")
    assert "no longer holding it up" in h.to(replies, ADA)[0].text
    assert any("no longer holding it up" in b for b in mail.to(ADA))
    assert "budget" not in h.say(ADA, "my tickets")[0].text


def test_another_technicians_change_reaches_the_assignee(sqlite_url: str) -> None:
    h, mail = mailing_harness(sqlite_url)
    ticket = open_ticket(h)
    h.say(TESS, f"claim {ticket}")
    replies = h.say(TOM, f"resolve {ticket} rebooted the dock")
    assert "Tom Fixit resolved" in h.to(replies, TESS)[0].text
    assert "rebooted the dock" in h.to(replies, ADA)[0].text
    assert any("rebooted the dock" in b for b in mail.to(TESS))


# ---------------------------------------------------------------- requester side (A1, A5, B10)


def test_waiting_makes_the_requesters_next_message_follow_the_ticket(harness: Harness) -> None:
    ticket = open_ticket(harness)
    harness.say(TESS, f"claim {ticket}")
    asked = harness.say(TESS, f"waiting {ticket}")
    assert "Reply here" in harness.to(asked, ADA)[0].text
    answer = harness.say(ADA, "It is the vpn client from the intranet")  # would be a KB question otherwise
    assert f"Added to ticket #{ticket}" in harness.to(answer, ADA)[0].text
    assert any("vpn client" in r.text for r in harness.to(answer, TESS))
    with session_of(harness) as s:
        assert s.get(Ticket, ticket).status == "claimed"  # back with the technician


def test_solved_button_of_someone_elses_ticket_is_refused_without_thanks(harness: Harness) -> None:
    ticket = open_ticket(harness)
    replies = harness.press(BOB, f"ticket.solved:{ticket}")
    assert [r.text for r in replies] == [f"Ticket #{ticket} is not one of yours."]
    mine = harness.press(ADA, f"ticket.solved:{ticket}")
    assert mine[-1].text.startswith("Thanks! I told the technician")


def test_reopen_with_a_reason_on_an_open_ticket_adds_the_reason(harness: Harness) -> None:
    ticket = open_ticket(harness)
    harness.say(TESS, f"claim {ticket}")
    replies = harness.say(ADA, f"reopen {ticket} it flickers again since this morning")
    assert "still open" in harness.to(replies, ADA)[0].text
    assert any("flickers again" in r.text for r in harness.to(replies, TESS))
    with session_of(harness) as s:
        events = s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket)).all()
        assert ("message_from_requester", "it flickers again since this morning") in [
            (e.kind, e.text) for e in events
        ]
        assert "reopened" not in [e.kind for e in events]


# ---------------------------------------------------------------- ticket numbers out of range (B7)

HUGE = "99999999999999999999999"


def test_huge_ticket_numbers_are_no_ticket_not_a_crash(harness: Harness) -> None:
    open_ticket(harness)
    for who, text in (
        (TESS, f"claim {HUGE}"),
        (TESS, f"show #{HUGE}"),
        (TESS, "resolve 2147483648 done"),
        (ADA, f"reopen {HUGE} still broken"),
    ):
        replies = harness.say(who, text)
        assert replies[0].text.startswith("There is no ticket #"), (text, replies[0].text)
    for who, button in (
        (TESS, f"ticket.claim:{HUGE}"),
        (ADA, f"ticket.solved:{HUGE}"),
        (ADA, f"ticket.answer:{HUGE}"),
        (ADA, f"ticket.rate:{HUGE}:5"),
        (ADA, f"ticket.reopen:{HUGE}"),
    ):
        assert harness.press(who, button)[0].text.startswith("There is no ticket #"), button
    assert harness.say(ADA, "more detail", thread=2**40)[0].text  # a platform thread id: no crash
    with session_of(harness) as s:
        assert [t.category for t in s.scalars(select(Ticket))] == ["question"]  # no bot_error ticket


# ---------------------------------------------------------------- following a ticket (B9)


def following(h: Harness) -> int:
    ticket = open_ticket(h)
    h.say(TESS, f"claim {ticket}")
    first = h.say(TESS, f"reply {ticket} Which monitor model is it?")
    assert f"say 'done with #{ticket}'" in h.to(first, ADA)[0].text  # told once how relaying works
    second = h.say(TESS, f"reply {ticket} And which port?")
    assert "done with" not in h.to(second, ADA)[0].text
    return ticket


def test_clear_requests_win_over_relaying(harness: Harness) -> None:
    ticket = following(harness)
    reset = harness.say(ADA, "I forgot my password")
    assert not harness.to(reset, TESS) and not any("Added to ticket" in r.text for r in reset)
    assert "asked your manager" in harness.to(reset, ADA)[0].text  # the reset flow, verifying
    harness.say(ADA, "cancel")
    ticket = following(harness)
    mine = harness.say(ADA, "my tickets")
    assert mine[0].text.startswith("Your tickets:")
    human = harness.say(ADA, "can I talk to a human about something else")
    assert "what's the problem" in human[0].text.lower()
    harness.say(ADA, "cancel")
    with session_of(harness) as s:
        texts = [
            e.text for e in s.scalars(select(TicketEvent).where(TicketEvent.kind == "message_from_requester"))
        ]
    assert texts == [], texts
    assert ticket


def test_plain_follow_ups_relay_and_questions_get_a_way_out(harness: Harness) -> None:
    ticket = following(harness)
    plain = harness.say(ADA, "A Dell U2720Q")
    assert harness.to(plain, ADA)[0].text == f"Added to ticket #{ticket}; Tess Tech will see it."
    done = harness.say(ADA, "done")  # "I did what you asked": an answer, not a way out
    assert harness.to(done, ADA)[0].text.startswith(f"Added to ticket #{ticket}")
    question = harness.to(harness.say(ADA, "how do I set up the vpn?"), ADA)[0].text
    assert f"Added to ticket #{ticket}" in question and f"'done with #{ticket}'" in question
    left = harness.say(ADA, f"done with #{ticket}")
    assert "stop passing your messages" in left[0].text
    answered = harness.say(ADA, "how do I set up the vpn?")
    assert "Connect to the VPN" in answered[0].text


def test_resolving_the_ticket_ends_the_relay(harness: Harness) -> None:
    ticket = following(harness)
    harness.say(TESS, f"resolve {ticket} Swapped the monitor")
    after = harness.say(ADA, "how do I set up the vpn")
    assert "Connect to the VPN" in after[0].text
    with session_of(harness) as s:
        assert not s.scalars(select(TicketEvent).where(TicketEvent.kind == "message_from_requester")).all()


# ---------------------------------------------------------------- the technician's queue (B20) and card (C23)


def test_queue_counts_every_open_ticket_beyond_the_page(harness: Harness) -> None:
    for n in range(23):
        harness.say(BOB, "talk to a human")
        harness.say(BOB, f"problem number {n}")
        harness.say(BOB, "not urgent")
    harness.say(TESS, "claim 1")
    text = harness.say(TESS, "queue")[0].text
    header, *lines = text.splitlines()
    assert header.startswith("Open tickets: 23 (showing 20)")
    assert len(lines) == 20
    assert all("— unclaimed —" in line for line in lines) and "waiting for a technician" not in text


def test_ticket_history_shows_event_details(harness: Harness) -> None:
    ticket = open_ticket(harness, urgent=True)
    harness.say(TESS, f"claim {ticket}")
    harness.say(TESS, f"assign {ticket} tom@example.com")
    harness.say(TOM, f"flag {ticket} needs_budget")
    history = harness.say(TOM, f"show {ticket}")[0].text
    assert "created (urgent, question)" in history
    assert "reassigned (tess@example.com → tom@example.com)" in history
    assert "flag_set: needs_budget" in history
