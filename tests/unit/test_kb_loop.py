"""The knowledge loop in chat: honest deflection accounting, votes and demotion, learning and un-learning,
gaps, safety, and publishing from tickets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot import insights
from bot.knowledge import KnowledgeService, learned_questions
from bot.store.models import KbArticle, KbExample, KbQuestion, KbVote, Ticket
from tests import fakes
from tests.conftest import Harness, build_bot
from tests.kb.helpers import article

ADA, BOB, TESS = "ada@example.com", "bob@example.com", "tess@example.com"
WEEK_AGO = datetime(2026, 11, 16, tzinfo=UTC)
START = datetime(2026, 11, 20, 9, tzinfo=UTC)
SHIPPED = Path(__file__).resolve().parents[2] / "kb" / "articles"


def figures(h: Harness, until: datetime) -> insights.KbFigures:
    with h.bot.sessions() as s:
        return insights.kb_figures(s, fakes.FakeKnowledge(), WEEK_AGO, until)


def test_only_the_button_confirms_and_a_same_topic_ticket_takes_it_back(
    harness: Harness, frozen_clock
) -> None:
    frozen_clock(START)
    confirmed = harness.say(ADA, "how do I set up the vpn")
    harness.press(ADA, harness.button(confirmed, "That solved it"))
    harness.say(BOB, "where is the printer setting")  # answered, never confirmed: not a deflection
    harness.say(BOB, "my chair squeaks")  # no article
    assert figures(harness, START + timedelta(days=1)) == insights.KbFigures(
        asked=3,
        answered=2,
        confirmed_helpful=1,
        not_helpful=0,
        escalated=0,
        unanswered=1,
        deflected=1,
        taken_back=0,
    )
    frozen_clock(START + timedelta(days=2))
    harness.say(ADA, "talk to a human")
    harness.say(ADA, "the vpn still does not connect")
    harness.say(ADA, "urgent")
    after = figures(harness, START + timedelta(days=3))
    assert (after.confirmed_helpful, after.deflected, after.taken_back) == (1, 0, 1)


def test_a_ticket_after_the_window_or_on_another_topic_does_not_take_it_back(
    harness: Harness, frozen_clock
) -> None:
    frozen_clock(START)
    harness.press(ADA, harness.button(harness.say(ADA, "vpn setup"), "That solved it"))
    frozen_clock(START + timedelta(hours=5))
    for line in ("talk to a human", "my desk phone has no dial tone", "not urgent"):
        harness.say(ADA, line)
    frozen_clock(START + timedelta(days=4))
    for line in ("talk to a human", "vpn setup fails again", "not urgent"):
        harness.say(ADA, line)
    assert figures(harness, START + timedelta(days=5)).deflected == 1


# --- votes and demotion ---------------------------------------------------------------------------------


def test_repeated_not_helpful_demotes_and_flags_an_article(harness: Harness) -> None:
    for who in (ADA, BOB, TESS):
        harness.press(who, harness.button(harness.say(who, "printer help"), "Not what I need"))
    with harness.bot.sessions() as s:
        assert insights.demotions(s)["printer"] < 1.0
        assert insights.weak_articles(s) == [("printer", 0, 3)]
    report = harness.say(TESS, "gaps")[0].text
    assert "printer (0 helpful, 3 not)" in report and "printer help" in report


def test_rejecting_the_first_and_the_next_best_article_counts_a_vote_for_each(harness: Harness) -> None:
    for who in (ADA, BOB, TESS):
        first = harness.say(who, "vpn trouble")
        second = harness.press(who, harness.button(first, "Not what I need"))
        assert "VPN keeps disconnecting" in second[0].text
        harness.press(who, harness.button(second, "Not what I need"))
    with harness.bot.sessions() as s:
        assert insights.article_votes(s) == {"vpn-setup": (0, 3), "vpn-troubleshoot": (0, 3)}
        assert set(insights.demotions(s)) == {"vpn-setup", "vpn-troubleshoot"}
        assert len(s.scalars(select(KbVote)).all()) == 6


def test_pressing_a_button_twice_is_one_vote(harness: Harness) -> None:
    replies = harness.say(ADA, "how do I set up the vpn")
    solved = harness.button(replies, "That solved it")
    harness.press(ADA, solved)
    assert "already noted" in harness.press(ADA, solved)[0].text
    with harness.bot.sessions() as s:
        assert insights.article_votes(s) == {"vpn-setup": (1, 0)}


# --- learning and un-learning ---------------------------------------------------------------------------


def test_the_same_confirmed_wording_is_learned_once(harness: Harness) -> None:
    for who, text in (
        (ADA, "how do I set up the vpn"),
        (BOB, "How do I set up the VPN?"),
        (TESS, "vpn setup"),
    ):
        harness.press(who, harness.button(harness.say(who, text), "That solved it"))
    with harness.bot.sessions() as s:
        examples = sorted(e.text for e in s.scalars(select(KbExample)))
    assert examples == ["how do I set up the vpn", "vpn setup"]


def test_a_taken_back_confirmation_stops_teaching_its_phrasing(sqlite_url: str, frozen_clock) -> None:
    bot, services = build_bot(sqlite_url)
    service = KnowledgeService(SHIPPED, semantic=False)
    services.knowledge = service.for_session
    h = Harness(bot)
    frozen_clock(START)
    phrasing = "the boardroom telly stays black"
    h.say(ADA, phrasing)
    with bot.sessions() as s:  # whatever the KB made of it, say it offered meeting-rooms
        q = s.scalars(select(KbQuestion)).one()
        q.article_id, q.outcome, q.tried_articles = "meeting-rooms", "answered", ["meeting-rooms"]
        s.commit()
        question_id = q.id
    h.press(ADA, f"kb.solved:{question_id}")
    with bot.sessions() as s:
        kb = service.for_session(s)
        assert kb.extra_questions == {"meeting-rooms": [phrasing]}
        assert kb.search("boardroom telly black").hits[0].article.id == "meeting-rooms"
    frozen_clock(START + timedelta(days=1))
    for line in ("talk to a human", "the boardroom telly is still black", "urgent"):
        h.say(ADA, line)
    with bot.sessions() as s:
        kb = service.for_session(s)
        assert kb.extra_questions.get("meeting-rooms", []) == []
        assert learned_questions(s, kb) == {}


# --- what is not a question -------------------------------------------------------------------------------


def test_a_typed_button_label_acts_on_the_latest_answer_and_is_no_knowledge_gap(harness: Harness) -> None:
    harness.say(ADA, "vpn trouble")
    second = harness.say(ADA, "Not what I need")
    assert "VPN keeps disconnecting" in second[0].text
    stale = harness.say(BOB, "not what I need")
    assert "expired" in stale[0].text
    with harness.bot.sessions() as s:
        assert [q.text for q in s.scalars(select(KbQuestion))] == ["vpn trouble"]
        assert insights.knowledge_gaps(s, WEEK_AGO) == []


@pytest.mark.parametrize(
    "message",
    ["my laptop battery is swollen", "there's smoke coming out of the printer", "the charger is sparking"],
)
def test_a_safety_hazard_gets_no_article_but_advice_and_an_urgent_ticket(
    harness: Harness, message: str
) -> None:
    replies = harness.to(harness.say(ADA, f"{message}, printer vpn"), ADA)  # words articles match, too
    assert "unplug" in replies[0].text.lower() and "emergency" in replies[0].text.lower()
    assert "Did this solve it?" not in replies[0].text
    with harness.bot.sessions() as s:
        ticket = s.scalars(select(Ticket)).one()
        assert ticket.urgent and ticket.category == "safety"
        assert s.scalars(select(KbQuestion)).all() == []


def test_an_escalated_question_is_linked_to_the_ticket_it_became(harness: Harness) -> None:
    replies = harness.say(ADA, "my chair squeaks")
    harness.press(ADA, harness.button(replies, "Open a ticket"))
    done = harness.press(ADA, "new_ticket.urgency:normal")
    ticket_id = harness.to(done, ADA)[-1].ticket
    assert ticket_id is not None
    with harness.bot.sessions() as s:
        asked = s.scalars(select(KbQuestion)).one()
        assert asked.ticket_id == ticket_id and asked.outcome == "escalated"


def test_knowledge_gaps_list_unanswered_questions_once(harness: Harness) -> None:
    harness.say(ADA, "Can I expense a standing desk?")
    harness.say(BOB, "can I expense a standing desk")
    with harness.bot.sessions() as s:
        gaps = insights.knowledge_gaps(s, WEEK_AGO)
    assert len(gaps) == 1 and "standing desk" in gaps[0].lower()


# --- publishing -----------------------------------------------------------------------------------------


def resolved_ticket(h: Harness, problem: str, resolution: str) -> None:
    for line in ("talk to a human", problem, "not urgent"):
        h.say(ADA, line)
    h.say(TESS, f"resolve 1 {resolution}")


def test_publish_a_resolved_ticket_as_an_article(harness: Harness) -> None:
    resolved_ticket(
        harness,
        "Hi team, Outlook asks for my password every few minutes. Very annoying.",
        "Removed the old credentials from Windows Credential Manager. Signed in again.",
    )
    draft = harness.press(TESS, "kb.draft:1")
    assert draft[0].card.title == "How to fix: Outlook asks for my password every few minutes"
    body = dict(draft[0].card.fields)["Body"]
    assert "1. Remove the old credentials from Windows Credential Manager." in body
    assert "2. Sign in again." in body and "Outlook asks for my password" in body
    harness.press(TESS, "publish.edit:title")
    harness.say(TESS, "Outlook keeps asking for your password")
    done = harness.press(TESS, "publish.confirm")
    assert "Published" in done[0].text
    with harness.bot.sessions() as s:
        article = s.scalars(select(KbArticle)).one()
        assert article.title == "Outlook keeps asking for your password" and article.source_ticket_id == 1
    assert "Only service desk technicians" in harness.press(ADA, "kb.draft:1")[0].text


def test_a_ticket_is_published_once_and_then_offered_for_editing(harness: Harness) -> None:
    resolved_ticket(harness, "Teams has no sound in calls", "Selected the headset as the Teams speaker")
    harness.press(TESS, "kb.draft:1")
    harness.press(TESS, "publish.confirm")
    again = harness.press(TESS, "kb.draft:1")
    assert "already published" in again[0].text
    edit = harness.button(again, "Edit the article")
    review = harness.press(TESS, edit)
    assert review[0].card.title == "How to fix: Teams has no sound in calls"
    harness.press(TESS, "publish.edit:body")
    harness.say(TESS, "1. Open Teams settings.\n2. Pick the headset as the speaker.")
    harness.press(TESS, "publish.confirm")
    with harness.bot.sessions() as s:
        article = s.scalars(select(KbArticle)).one()  # still one article, now edited
        assert article.body.startswith("1. Open Teams settings.") and article.source_ticket_id == 1


def test_publishing_needs_a_resolution(harness: Harness) -> None:
    for line in ("talk to a human", "Outlook is slow", "not urgent"):
        harness.say(ADA, line)
    assert "no resolution yet" in harness.press(TESS, "kb.draft:1")[0].text
    with harness.bot.sessions() as s:
        assert s.scalars(select(KbQuestion)).all() == []


def test_all_articles_deleted_at_run_time_gets_no_articles_yet_not_a_bot_error(
    sqlite_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "vpn.md").write_text(article("vpn", "Connect to the VPN"), encoding="utf-8")
    service = KnowledgeService(folder, semantic=False, recheck_seconds=0)
    bot, services = build_bot(sqlite_url)
    services.knowledge = service.for_session
    h = Harness(bot)
    assert "Connect to the VPN" in h.say(ADA, "connect to the vpn")[0].text
    (folder / "vpn.md").unlink()
    replies = h.say(ADA, "connect to the vpn")
    assert [r.to for r in replies] == [ADA]
    assert "I don't have any articles yet" in replies[0].text
    assert "Open a ticket" in [b.label for b in replies[0].buttons]
    with bot.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 0
