"""Typed short answers to the bot's own question mean what its buttons mean; elsewhere they are chat."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.store.models import KbQuestion, Ticket
from tests.conftest import Harness

ADA = "ada@example.com"


@pytest.mark.parametrize("typed", ["yes", "Yep!", "ok", "that worked", "it worked, thanks", "👍", "sorted"])
def test_a_yes_after_did_this_solve_it_confirms_the_article(harness: Harness, typed: str) -> None:
    harness.say(ADA, "how do I set up the vpn?")
    said = harness.say(ADA, typed)
    assert not any("Did this solve it?" in r.text for r in said)  # no article for "ok"
    with harness.bot.sessions() as s:
        assert s.scalars(select(KbQuestion.outcome)).one() == "helpful"


@pytest.mark.parametrize("typed", ["no", "nope", "still broken", "didn't work", "not what I need", "👎"])
def test_a_no_after_did_this_solve_it_does_what_not_what_i_need_does(
    sqlite_url: str, tmp_path, typed: str
) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import build_bot

    typed_bot, _ = build_bot(sqlite_url)
    pressed_bot, _ = build_bot(f"sqlite:///{tmp_path / 'pressed.db'}")
    by_typing, by_pressing = Harness(typed_bot), Harness(pressed_bot)
    by_typing.say(ADA, "how do I set up the vpn?")
    asked = by_pressing.say(ADA, "how do I set up the vpn?")
    typed_said = [r.text for r in by_typing.say(ADA, typed)]
    pressed_said = [r.text for r in by_pressing.press(ADA, by_pressing.button(asked, "Not what I need"))]
    assert typed_said == pressed_said and typed_said


def test_yes_opens_the_offered_ticket_and_answers_the_urgency_question(harness: Harness) -> None:
    offer = harness.say(ADA, "my monitor flickers when I open Excel")
    assert harness.button(offer, "Open a ticket")
    asked = harness.say(ADA, "yes please")
    assert any("urgent" in r.text.lower() for r in asked)
    opened = harness.say(ADA, "no")  # not urgent
    assert any("opened ticket #1" in r.text for r in opened)
    with harness.bot.sessions() as s:
        assert s.scalars(select(Ticket.urgent)).one() is False


def test_no_thanks_typed_declines_the_ticket(harness: Harness) -> None:
    harness.say(ADA, "my monitor flickers when I open Excel")
    harness.say(ADA, "nope")
    with harness.bot.sessions() as s:
        assert s.scalars(select(Ticket)).all() == []


def test_with_nothing_asked_ok_is_just_an_acknowledgement(harness: Harness) -> None:
    said = harness.say(ADA, "ok")
    assert said and "Did this solve it?" not in said[0].text and "ticket" not in said[0].text.lower()


def test_yes_never_approves_a_reset(sqlite_url: str) -> None:
    from tests.conftest import build_bot

    bot, _ = build_bot(sqlite_url, reset_verification="manager_approval")
    h = Harness(bot)
    h.say(ADA, "I forgot my password")
    h.say("grace@example.com", "yes")  # Grace's last message is the approval card: typed yes is not a press
    from bot.store.models import ResetRequest

    with bot.sessions() as s:
        assert s.scalars(select(ResetRequest.status)).one() == "pending"


def test_a_problem_that_sounds_like_a_no_is_the_problem_not_a_cancel(harness: Harness) -> None:
    harness.say(ADA, "talk to a human")
    harness.say(ADA, "still broken")  # answers "what's the problem?", whose only button is Cancel
    opened = harness.say(ADA, "not urgent")
    assert any("opened ticket #1" in r.text for r in opened)
    with harness.bot.sessions() as s:
        assert s.scalars(select(Ticket.problem)).one() == "still broken"
