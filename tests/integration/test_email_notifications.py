"""Ticket updates reach the requester and the assignee by email through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from tests.conftest import Harness, build_bot
from tests.servers.smtp import Mailbox

ADA, TESS = "ada@example.com", "tess@example.com"


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


def test_unreachable_smtp_server_does_not_break_the_conversation(sqlite_url: str) -> None:
    from tests.servers.support import free_port

    bot, _ = build_bot(sqlite_url, smtp_host="127.0.0.1", smtp_port=free_port(), smtp_timeout_seconds=1)
    h = Harness(bot)
    h.say(ADA, "talk to a human")
    h.say(ADA, "Mouse is broken")
    done = h.say(ADA, "not urgent")
    assert any("I've opened ticket #1" in r.text for r in done)
