"""Button labels typed as text in the knowledge-base conversation (handlers.question)."""

from __future__ import annotations

from sqlalchemy import select

from bot.store.models import KbQuestion, Ticket
from tests.conftest import Harness, build_bot

ADA = "ada@example.com"


def no_intent(_text: str) -> tuple[str | None, float]:
    """Every message goes to the knowledge base (the shipped classifier reads "no thanks" as smalltalk)."""
    return None, 0.0


def test_typing_no_thanks_after_a_ticket_offer_declines(sqlite_url: str) -> None:
    bot, _ = build_bot(sqlite_url, classify=no_intent)
    harness = Harness(bot)
    offer = harness.say(ADA, "my chair squeaks")  # no article: a ticket is offered
    harness.button(offer, "No thanks")
    declined = harness.say(ADA, "no thanks")
    assert "If you change your mind" in declined[0].text
    with bot.sessions() as s:
        assert [q.text for q in s.scalars(select(KbQuestion))] == ["my chair squeaks"]
        assert s.scalars(select(Ticket)).all() == []
