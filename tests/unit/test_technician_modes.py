"""Issue 9, item 1: a technician's command is a command in every mode, an internal note never reaches the
requester, and a pending compose prompt says what it will send to whom and expires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.store.models import TicketEvent
from tests.conftest import Harness
from tests.unit.test_tickets_flow import open_ticket

ADA, TESS = "ada@example.com", "tess@example.com"


def _events(h: Harness, ticket_id: int) -> list[tuple[str, str]]:
    with h.bot.sessions() as s:
        rows = s.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
        )
        return [(e.kind, e.text) for e in rows]


def _told_ada(replies: list) -> str:
    return " ".join(r.text for r in Harness.to(replies, ADA))


def test_a_note_typed_while_a_reply_is_pending_is_a_note(harness: Harness) -> None:
    ticket_id = open_ticket(harness)
    harness.say(TESS, f"claim {ticket_id}")
    harness.press(TESS, f"ticket.reply:{ticket_id}")
    replies = harness.say(TESS, f"note {ticket_id} INTERNAL: she broke it herself")
    assert "INTERNAL" not in _told_ada(replies)
    assert (("note", "INTERNAL: she broke it herself")) in _events(harness, ticket_id)
    assert not any(kind == "message_to_requester" for kind, _ in _events(harness, ticket_id))
    assert "Note added" in Harness.to(replies, TESS)[-1].text


def test_queue_and_resolve_typed_while_a_reply_is_pending_are_commands(harness: Harness) -> None:
    ticket_id = open_ticket(harness)
    harness.say(TESS, f"reply {ticket_id}")
    queue = harness.say(TESS, "queue")
    assert not Harness.to(queue, ADA) and "Open tickets" in queue[-1].text
    resolved = harness.say(TESS, f"resolve {ticket_id} replaced the cable")
    assert "is resolved: replaced the cable" in _told_ada(resolved)
    assert "about ticket" not in _told_ada(resolved)  # not relayed as a message too


def test_a_reply_typed_while_a_note_is_pending_is_a_reply(harness: Harness) -> None:
    ticket_id = open_ticket(harness)
    harness.press(TESS, f"ticket.note:{ticket_id}")
    replies = harness.say(TESS, f"reply {ticket_id} please restart it")
    assert "please restart it" in _told_ada(replies)
    assert ("message_to_requester", "please restart it") in _events(harness, ticket_id)
    assert not any(kind == "note" for kind, _ in _events(harness, ticket_id))


def test_the_compose_prompt_says_what_goes_to_whom(harness: Harness) -> None:
    ticket_id = open_ticket(harness)
    prompt = harness.press(TESS, f"ticket.reply:{ticket_id}")[-1].text
    assert "Ada Lovelace (ada@example.com)" in prompt and f"#{ticket_id}" in prompt and "cancel" in prompt
    note_prompt = harness.press(TESS, f"ticket.note:{ticket_id}")[-1].text
    assert "internal note" in note_prompt and "won't see it" in note_prompt


def test_a_pending_reply_expires_and_the_text_is_not_sent(harness: Harness, frozen_clock) -> None:
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    frozen_clock(start)
    ticket_id = open_ticket(harness)
    harness.press(TESS, f"ticket.reply:{ticket_id}")
    frozen_clock(start + timedelta(minutes=11))
    replies = harness.say(TESS, "hello there")  # after the restart, the pending prompt is stale
    assert not Harness.to(replies, ADA)
    assert "expired" in replies[0].text and "not sent" in replies[0].text
    assert not any(kind == "message_to_requester" for kind, _ in _events(harness, ticket_id))


def test_a_command_in_a_ticket_thread_is_a_command(harness: Harness) -> None:
    ticket_id = open_ticket(harness)
    harness.say(TESS, f"claim {ticket_id}")
    replies = harness.say(TESS, f"note {ticket_id} INTERNAL: suspicious", thread=ticket_id)
    assert not Harness.to(replies, ADA)
    assert ("note", "INTERNAL: suspicious") in _events(harness, ticket_id)
    plain = harness.say(TESS, "try turning it off and on", thread=ticket_id)
    assert "try turning it off and on" in _told_ada(plain)


def test_an_internal_note_on_a_technicians_own_ticket_is_not_sent_to_them(harness: Harness) -> None:
    ticket_id = open_ticket(harness, who=TESS)  # Tess is the requester; Tom works it
    harness.say("tom@example.com", f"claim {ticket_id}")
    harness.say("tom@example.com", f"assign {ticket_id} tess@example.com")
    replies = harness.say("tom@example.com", f"note {ticket_id} she is overdue on training")
    assert not Harness.to(replies, TESS)
