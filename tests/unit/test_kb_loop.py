"""The knowledge loop in chat: honest deflection accounting, demotion, gaps, and publishing from tickets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.store.models import KbArticle, KbQuestion
from handlers import insights
from tests import fakes
from tests.conftest import Harness

ADA, BOB, TESS = "ada@example.com", "bob@example.com", "tess@example.com"
WEEK_AGO = datetime(2026, 11, 16, tzinfo=UTC)


def figures(h: Harness, until: datetime) -> insights.KbFigures:
    with h.bot.sessions() as s:
        return insights.kb_figures(s, fakes.FakeKnowledge(), WEEK_AGO, until)


def test_only_the_button_confirms_and_a_same_topic_ticket_takes_it_back(
    harness: Harness, frozen_clock
) -> None:
    start = datetime(2026, 11, 20, 9, tzinfo=UTC)
    frozen_clock(start)
    confirmed = harness.say(ADA, "how do I set up the vpn")
    harness.press(ADA, harness.button(confirmed, "That solved it"))
    harness.say(BOB, "where is the printer setting")  # answered, never confirmed: not a deflection
    harness.say(BOB, "my chair squeaks")  # no article
    assert figures(harness, start + timedelta(days=1)) == insights.KbFigures(
        asked=3,
        answered=2,
        confirmed_helpful=1,
        not_helpful=0,
        escalated=0,
        unanswered=1,
        deflected=1,
        taken_back=0,
    )
    frozen_clock(start + timedelta(days=2))
    harness.say(ADA, "talk to a human")
    harness.say(ADA, "the vpn still does not connect")
    harness.say(ADA, "urgent")
    after = figures(harness, start + timedelta(days=3))
    assert (after.confirmed_helpful, after.deflected, after.taken_back) == (1, 0, 1)


def test_a_ticket_after_the_window_or_on_another_topic_does_not_take_it_back(
    harness: Harness, frozen_clock
) -> None:
    start = datetime(2026, 11, 20, 9, tzinfo=UTC)
    frozen_clock(start)
    harness.press(ADA, harness.button(harness.say(ADA, "vpn setup"), "That solved it"))
    frozen_clock(start + timedelta(hours=5))
    for line in ("talk to a human", "my desk phone has no dial tone", "not urgent"):
        harness.say(ADA, line)
    frozen_clock(start + timedelta(days=4))
    for line in ("talk to a human", "vpn setup fails again", "not urgent"):
        harness.say(ADA, line)
    assert figures(harness, start + timedelta(days=5)).deflected == 1


def test_repeated_not_helpful_demotes_and_flags_an_article(harness: Harness) -> None:
    for who in (ADA, BOB, TESS):
        harness.press(who, harness.button(harness.say(who, "printer help"), "Not what I need"))
    with harness.bot.sessions() as s:
        assert insights.demotions(s)["printer"] < 1.0
        assert insights.weak_articles(s) == [("printer", 0, 3)]
    report = harness.say(TESS, "gaps")[0].text
    assert "printer (0 helpful, 3 not)" in report and "printer help" in report


def test_knowledge_gaps_list_unanswered_questions_once(harness: Harness) -> None:
    harness.say(ADA, "Can I expense a standing desk?")
    harness.say(BOB, "can I expense a standing desk")
    with harness.bot.sessions() as s:
        gaps = insights.knowledge_gaps(s, WEEK_AGO)
    assert len(gaps) == 1 and "standing desk" in gaps[0].lower()


def test_publish_a_resolved_ticket_as_an_article(harness: Harness) -> None:
    for line in ("talk to a human", "Outlook asks for my password every few minutes.", "not urgent"):
        harness.say(ADA, line)
    harness.say(
        TESS, "resolve 1 Removed the old credentials from Windows Credential Manager and signed in again"
    )
    draft = harness.press(TESS, "kb.draft:1")
    assert draft[0].card.title == "Outlook asks for my password every few minutes"
    assert "Credential Manager" in dict(draft[0].card.fields)["Body"]
    harness.press(TESS, "publish.edit:title")
    harness.say(TESS, "Outlook keeps asking for your password")
    done = harness.press(TESS, "publish.confirm")
    assert "Published" in done[0].text
    with harness.bot.sessions() as s:
        article = s.scalars(select(KbArticle)).one()
        assert article.title == "Outlook keeps asking for your password" and article.source_ticket_id == 1
    assert "Only service desk technicians" in harness.press(ADA, "kb.draft:1")[0].text


def test_publishing_needs_a_resolution(harness: Harness) -> None:
    for line in ("talk to a human", "Outlook is slow", "not urgent"):
        harness.say(ADA, line)
    assert "no resolution yet" in harness.press(TESS, "kb.draft:1")[0].text
    with harness.bot.sessions() as s:
        assert s.scalars(select(KbQuestion)).all() == []
