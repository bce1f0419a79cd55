"""What a technician learns from a ticket: the conversation that led to it (never a secret), and whether
the directory knows the requester; and what a technician is told when the directory cannot vouch for them."""

from __future__ import annotations

import io
import json

from sqlalchemy import select

from automations.demo_directory import DemoDirectory
from automations.directory import DirectoryPerson, DirectoryUnavailable
from bot import logs
from bot.store.models import Conversation, Ticket
from tests.conftest import DIRECTORY, Harness, build_bot

ADA, TESS, STRANGER = "ada@example.com", "tess@example.com", "stranger@elsewhere.org"


def opened(h: Harness, who: str, problem: str) -> Ticket:
    h.say(who, "talk to a human")
    h.say(who, problem)
    done = h.say(who, "not urgent")
    ticket_id = next(r.ticket for r in done if r.to == who and r.ticket)
    with h.bot.sessions() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket


def test_talk_to_a_human_carries_the_last_turns_as_transcript(harness: Harness) -> None:
    harness.say(ADA, "my printer prints blank pages")
    harness.say(ADA, "it started after the toner change")
    ticket = opened(harness, ADA, "Printer on floor 3 prints nothing")
    assert "my printer prints blank pages" in ticket.transcript
    assert "it started after the toner change" in ticket.transcript
    assert "bot: I don't have an article" in ticket.transcript  # the bot's side too
    assert "[Open a ticket / No thanks]" in ticket.transcript  # what it offered


def test_the_triage_card_is_brief_and_details_show_the_whole_conversation(harness: Harness) -> None:
    harness.say(ADA, "my printer prints blank pages")
    harness.say(ADA, "talk to a human")
    harness.say(ADA, "Printer on floor 3 prints nothing")
    posted = harness.say(ADA, "not urgent")
    card = dict(next(r.card for r in posted if r.to.startswith("#") and r.card).fields)
    assert card["Conversation"].startswith("2 messages") and "blank pages" not in str(card)
    details = harness.say(TESS, "show 1")
    full = dict(next(r.card for r in details if r.card).fields)
    assert "my printer prints blank pages" in full["Conversation"]


def test_transcript_is_bounded(harness: Harness) -> None:
    for n in range(30):
        harness.say(ADA, f"message number {n} " + "x" * 1000)
    ticket = opened(harness, ADA, "Still broken")
    assert "message number 29" in ticket.transcript and "message number 3 " not in ticket.transcript
    assert len(ticket.transcript) < 8 * 400


def test_secrets_never_reach_the_transcript_or_the_conversation(sqlite_url: str) -> None:
    bot, _ = build_bot(sqlite_url, reset_verification="chat_identity")
    h = Harness(bot)
    h.say(ADA, "my password is Hunter2-Secret!")
    reset = h.say(ADA, "I forgot my password")
    temporary = next(r.secret for r in reset if r.secret)
    assert temporary
    ticket = opened(h, ADA, "Still can't sign in to Outlook")
    assert "Hunter2-Secret" not in ticket.transcript and temporary not in ticket.transcript
    assert "(not kept" in ticket.transcript and "I forgot my password" in ticket.transcript
    with bot.sessions() as s:
        stored = json.dumps([c.data for c in s.scalars(select(Conversation))])
    assert "Hunter2-Secret" not in stored and temporary not in stored


def test_verification_codes_typed_in_chat_are_not_kept(sqlite_url: str) -> None:
    bot, _ = build_bot(sqlite_url, smtp_host="smtp.invalid")
    h = Harness(bot)
    h.say(ADA, "I forgot my password")
    h.say(ADA, "123456")  # a (wrong) code, typed in the reset flow
    h.say(ADA, "cancel")
    ticket = opened(h, ADA, "Reset doesn't work")
    assert "123456" not in ticket.transcript and "(not kept" in ticket.transcript


def test_unknown_requester_is_flagged_on_the_card_and_the_ticket(harness: Harness) -> None:
    harness.say(STRANGER, "talk to a human")
    harness.say(STRANGER, "I can't get into the building")
    done = harness.say(STRANGER, "urgent")
    triage = Harness.to(done, "#triage")[0]
    assert "not found in the directory" in triage.text
    assert ("Directory", "not found in the directory") in (triage.card.fields if triage.card else ())
    with harness.bot.sessions() as s:
        assert s.scalars(select(Ticket)).one().requester_directory == "not_found"
    known = opened(harness, ADA, "Monitor flickers")
    assert known.requester_directory == "found"


class SwitchableDirectory(DemoDirectory):
    """The test directory, which can be taken down like a real one."""

    down = False

    def find_by_email(self, email: str) -> DirectoryPerson | None:
        if self.down:
            raise DirectoryUnavailable("connection refused")
        return super().find_by_email(email)

    def is_member(self, person: DirectoryPerson, group: str) -> bool:
        if self.down:
            raise DirectoryUnavailable("connection refused")
        return super().is_member(person, group)


def test_directory_outage_tells_group_technicians_their_role_cannot_be_checked(sqlite_url: str) -> None:
    directory = SwitchableDirectory.from_document(DIRECTORY)
    bot, _ = build_bot(sqlite_url, directory=directory)
    h = Harness(bot)
    opened(h, ADA, "Monitor flickers")
    directory.down = True
    for text in ("claim 1", "queue"):
        assert "can't verify your technician role" in h.say(TESS, text)[0].text
    assert "can't verify your technician role" in h.press(TESS, "ticket.claim:1")[0].text
    ticket = opened(h, ADA, "Keyboard dead")
    assert ticket.requester_directory == "unavailable"
    directory.down = False
    assert "is yours" in Harness.to(h.say(TESS, "claim 1"), TESS)[0].text


def test_log_lines_carry_the_conversation_and_the_ticket(harness: Harness) -> None:
    stream = io.StringIO()
    logs.configure_logging("INFO", "json", stream=stream)
    ticket = opened(harness, ADA, "Monitor flickers")
    harness.say(TESS, f"claim {ticket.id}")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    claimed = next(line for line in lines if line.get("kind") == "claimed")
    assert claimed["ticket"] == ticket.id and claimed["person"] == TESS
    assert isinstance(claimed["conversation"], int)
    handled = [line for line in lines if line["event"] == "event_handled" and line["person"] == TESS]
    assert handled and handled[-1]["ticket"] == ticket.id
    conversations = {line["conversation"] for line in lines if line["event"] == "event_handled"}
    assert len(conversations) == 2  # Ada's and Tess's
