"""Ticket updates reach the requester and the assignee by email through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from tests.conftest import Harness, build_bot
from tests.servers.smtp import Mailbox

ADA, TESS, TOM = "ada@example.com", "tess@example.com", "tom@example.com"


def test_every_update_is_emailed_to_requester_and_assignee(sqlite_url: str, smtp_server: Mailbox) -> None:
    bot, _ = build_bot(
        sqlite_url, smtp_host=smtp_server.host, smtp_port=smtp_server.port, smtp_from="helpdesk@example.com"
    )
    h = Harness(bot)
    h.say(ADA, "talk to a human")
    h.say(ADA, "The projector in room 4 shows no picture")
    h.say(ADA, "urgent")
    opened = smtp_server.wait_for(ADA, 1)
    assert opened[0]["Subject"] == "[frontdesk #1] The projector in room 4 shows no picture"
    assert opened[0]["From"] == "helpdesk@example.com"

    h.say(TESS, "claim 1")
    h.say(TESS, "reply 1 Is the HDMI cable plugged in?")
    to_ada = smtp_server.wait_for(ADA, 3)
    assert "Is the HDMI cable plugged in?" in to_ada[-1].get_payload()

    h.say(ADA, "Yes, it is")
    to_tess = smtp_server.wait_for(TESS, 1)
    assert "Yes, it is" in to_tess[-1].get_payload()

    h.say(TESS, "resolve 1 Replaced the HDMI adapter")
    assert "Replaced the HDMI adapter" in smtp_server.wait_for(ADA, 4)[-1].get_payload()


def test_messages_are_dated_unique_and_threaded_per_ticket(sqlite_url: str, smtp_server: Mailbox) -> None:
    bot, _ = build_bot(
        sqlite_url, smtp_host=smtp_server.host, smtp_port=smtp_server.port, smtp_from="Help <hd@example.com>"
    )
    h = Harness(bot)
    for ticket, problem in ((1, "Laptop fan is loud"), (2, "Mouse double-clicks")):
        h.say(ADA, "talk to a human")
        h.say(ADA, problem)
        h.say(ADA, "not urgent")
        h.say(TESS, f"claim {ticket}")
    mails = smtp_server.wait_for(ADA, 4)
    assert all(m["Date"] and m["Message-ID"] for m in mails)
    assert len({m["Message-ID"] for m in mails}) == 4
    assert all(m["Message-ID"].endswith("@example.com>") for m in mails)
    threads = [(m["Subject"][:15], m["References"], m["In-Reply-To"]) for m in mails]
    assert threads[0][1] == threads[1][1] == threads[0][2] == "<ticket-1@example.com>"
    assert threads[2][1] == threads[3][1] == "<ticket-2@example.com>"


def test_reassign_rating_and_unclaim_are_emailed(sqlite_url: str, smtp_server: Mailbox) -> None:
    bot, _ = build_bot(sqlite_url, smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    h = Harness(bot)
    h.say(ADA, "talk to a human")
    h.say(ADA, "Docking station is dead")
    h.say(ADA, "urgent")
    h.say(TESS, "claim 1")
    h.say(TESS, "assign 1 tom@example.com")
    assert "assigned ticket #1 to you" in smtp_server.wait_for(TOM, 1)[-1].get_payload()
    h.say(TOM, "unclaim 1")
    assert "no longer working on your ticket" in smtp_server.wait_for(ADA, 4)[-1].get_payload()
    h.say(TESS, "claim 1")
    h.say(TESS, "resolve 1 New dock")
    h.press(ADA, "ticket.rate:1:5")
    assert "rated ticket #1 5/5" in smtp_server.wait_for(TESS, 1)[-1].get_payload()


def test_unreachable_smtp_server_does_not_break_the_conversation(sqlite_url: str) -> None:
    from tests.servers.support import free_port

    bot, _ = build_bot(sqlite_url, smtp_host="127.0.0.1", smtp_port=free_port(), smtp_timeout_seconds=1)
    h = Harness(bot)
    h.say(ADA, "talk to a human")
    h.say(ADA, "Mouse is broken")
    done = h.say(ADA, "not urgent")
    assert any("I've opened ticket #1" in r.text for r in done)
