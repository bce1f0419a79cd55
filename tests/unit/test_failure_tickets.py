"""Tickets name the right person: a failed approved reset is the account owner's ticket, not the
approver's; and with the directory down, cards and replies show what was stored instead of failing."""

from __future__ import annotations

import copy

from sqlalchemy import func, select

from automations.demo_directory import DemoDirectory
from automations.directory import DirectoryError, DirectoryUnavailable
from bot.store.models import Ticket
from tests.conftest import DIRECTORY, Harness, build_bot
from tests.servers.smtp import Mailbox

ADA, GRACE, TESS, TOM = "ada@example.com", "grace@example.com", "tess@example.com", "tom@example.com"


class Refusing:
    """The demo directory, refusing every password reset (a rule the bot cannot read)."""

    def __init__(self) -> None:
        self.inner, self.name = DemoDirectory.from_document(copy.deepcopy(DIRECTORY)), "refusing"

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def reset_password(self, person, new_password, *, must_change=True) -> None:
        raise DirectoryError("the password was refused by a policy the bot cannot read")


def test_a_failed_approved_reset_is_the_owners_ticket_in_triage_card_and_receipt(
    sqlite_url: str, smtp_server: Mailbox
) -> None:
    bot, _ = build_bot(
        sqlite_url,
        directory=Refusing(),
        reset_verification="manager_approval",
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
    )
    h = Harness(bot)
    approve = h.button(h.say(ADA, "I forgot my password"), "Approve")
    replies = h.press(GRACE, approve)
    triage = [r for r in replies if r.to.startswith("#")]
    assert len(triage) == 1 and "from Ada Lovelace" in triage[0].text, [r.text for r in triage]
    assert "Grace" not in triage[0].text
    assert triage[0].card is not None
    assert dict(triage[0].card.fields)["Requester"] == f"Ada Lovelace <{ADA}>"
    with bot.sessions() as s:
        ticket = s.get(Ticket, triage[0].ticket)
        assert (ticket.requester_email, ticket.requester_name, ticket.requester_department) == (
            ADA,
            "Ada Lovelace",
            "Finance",
        )
    receipt = f"We opened ticket #{triage[0].ticket}"
    assert any(receipt in m.get_payload() for m in smtp_server.wait_for(ADA))
    assert not any(receipt in m.get_payload() for m in smtp_server.to(GRACE))


class SometimesDown:
    """The demo directory, unreachable while `down` is set."""

    def __init__(self) -> None:
        self.inner, self.name, self.down = (
            DemoDirectory.from_document(copy.deepcopy(DIRECTORY)),
            "flaky",
            False,
        )

    def __getattr__(self, name: str):
        operation = getattr(self.inner, name)
        if not callable(operation):
            return operation

        def call(*args, **kwargs):
            if self.down:
                raise DirectoryUnavailable("connection refused")
            return operation(*args, **kwargs)

        return call


def test_with_the_directory_down_claims_and_follow_ups_show_what_was_stored(sqlite_url: str) -> None:
    directory = SometimesDown()
    bot, _ = build_bot(sqlite_url, directory=directory, technicians=f"{TESS},{TOM}")
    h = Harness(bot)
    h.say(ADA, "talk to a human")
    h.say(ADA, "the printer eats paper")
    h.say(ADA, "not urgent")
    h.say(TESS, "reply 1 Which printer?")
    directory.down = True
    taken = h.press(TOM, "ticket.claim:1")
    assert [r.text for r in taken] == [f"Ticket #1 is already claimed by {TESS}."]
    follow_up = h.say(ADA, "the one on floor 2")
    assert any("Added to ticket #1" in r.text for r in Harness.to(follow_up, ADA))
    shown = h.press(TOM, "ticket.show:1")
    assert dict(shown[0].card.fields)["Requester"] == f"Ada Lovelace <{ADA}>"
    with bot.sessions() as s:
        assert s.scalar(select(func.count()).where(Ticket.category == "bot_error")) == 0
