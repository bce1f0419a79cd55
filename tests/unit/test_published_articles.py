"""Published articles stay right: technicians list, show, edit, withdraw and restore them in chat; a
withdrawn article stops answering at once and comes back when restored; employees are refused. And the
draft turns a technician's resolution into steps an employee can follow."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.knowledge import KnowledgeService
from bot.store.models import AuditRecord, KbArticle
from handlers.publish import DRAFT_ENDING, draft_body, steps_from
from tests.conftest import Harness, build_bot
from tests.kb.helpers import article

ADA, TESS = "ada@example.com", "tess@example.com"
START = datetime(2026, 11, 20, 9, tzinfo=UTC)
PROBLEM = "Outlook asks for my password every few minutes"
ARTICLE_ID = "outlook-asks-for-password-every-few-minutes"


@pytest.fixture
def desk(sqlite_url: str, tmp_path: Path, frozen_clock) -> tuple[Harness, KnowledgeService]:
    """The bot on the real knowledge service over a one-article folder, with one article published from a
    resolved ticket."""
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "vpn.md").write_text(article("vpn", "Connect to the VPN"), encoding="utf-8")
    service = KnowledgeService(folder, semantic=False, recheck_seconds=0)
    bot, services = build_bot(sqlite_url)
    services.knowledge = service.for_session
    h = Harness(bot)
    frozen_clock(START)
    for line in ("talk to a human", PROBLEM, "not urgent"):
        h.say(ADA, line)
    h.say(TESS, "resolve 1 Removed the old credentials from Windows Credential Manager. Signed in again.")
    h.press(TESS, "kb.draft:1")
    h.press(TESS, "publish.edit:title")
    h.say(TESS, "Outlook asks for password every few minutes")
    assert "Published" in h.press(TESS, "publish.confirm")[0].text
    return h, service


def answer(h: Harness, service: KnowledgeService, question: str) -> str | None:
    with h.bot.sessions() as s:
        result = service.for_session(s).search(question)
        return result.answer.article.id if result.answer else None


def test_a_technician_lists_and_shows_published_articles(desk) -> None:
    h, _ = desk
    listing = h.say(TESS, "articles")[0]
    assert f"{ARTICLE_ID}: Outlook asks for password every few minutes" in listing.text
    assert f"{TESS}, ticket #1, 2026-11-20" in listing.text
    shown = h.press(TESS, h.button([listing], "Open Outlook asks for password eve…"))[0]
    assert shown.card.title == "Outlook asks for password every few minutes"
    fields = dict(shown.card.fields)
    assert fields["Author"] == TESS and fields["From ticket"] == "#1"
    assert [b.label for b in shown.buttons] == ["Edit", "Withdraw"]
    assert h.say(TESS, f"article {ARTICLE_ID}")[0].card.title == shown.card.title
    assert "no published article 'nope'" in h.say(TESS, "article nope")[0].text


def test_an_employee_is_refused_every_article_command(desk) -> None:
    h, service = desk
    for command in (
        "articles",
        f"article {ARTICLE_ID}",
        f"withdraw article {ARTICLE_ID} wrong",
        "edit article x",
    ):
        reply = h.say(ADA, command)[0]
        assert "That's a technician command" in reply.text, command
    assert "Only service desk technicians" in h.press(ADA, f"article.withdraw:{ARTICLE_ID}")[0].text
    # words that merely start like a command are a question for the knowledge base
    assert "technician command" not in h.say(ADA, "article vpn")[0].text
    assert "technician command" not in h.say(ADA, "article about connecting to the vpn")[0].text
    with h.bot.sessions() as s:
        assert s.get(KbArticle, ARTICLE_ID).withdrawn_at is None
    assert answer(h, service, "outlook asks for password every few minutes") == ARTICLE_ID


def test_a_technician_edits_an_article_through_the_publish_review(desk) -> None:
    h, _ = desk
    review = h.say(TESS, f"edit article {ARTICLE_ID}")[0]
    assert review.card.title == "Outlook asks for password every few minutes"
    h.press(TESS, "publish.edit:body")
    h.say(TESS, "1. Open Credential Manager.\n2. Remove the Outlook entries.")
    assert "Updated" in h.press(TESS, "publish.confirm")[0].text
    with h.bot.sessions() as s:
        assert s.get(KbArticle, ARTICLE_ID).body.startswith("1. Open Credential Manager.")
        assert len(s.scalars(select(KbArticle)).all()) == 1


def test_a_withdrawn_article_is_no_longer_answered_and_restore_brings_it_back(desk) -> None:
    h, service = desk
    question = "outlook asks for password every few minutes"
    assert answer(h, service, question) == ARTICLE_ID
    ask = h.say(TESS, f"withdraw article {ARTICLE_ID} wrong fix, the cause was MFA")[0]
    assert "Withdraw “Outlook asks for password every few minutes”" in ask.text
    assert answer(h, service, question) == ARTICLE_ID  # nothing happens before the button
    done = h.press(TESS, h.button([ask], "Withdraw"))[0]
    assert "no longer answers with it" in done.text
    assert answer(h, service, question) != ARTICLE_ID
    assert answer(h, service, "connect to the vpn") == "vpn"  # the rest of the KB is untouched
    with h.bot.sessions() as s:
        kept = s.get(KbArticle, ARTICLE_ID)
        assert kept is not None and kept.withdrawn_reason == "wrong fix, the cause was MFA"
        actions = [(a.action, a.actor, a.target) for a in s.scalars(select(AuditRecord))]
        assert ("kb_article_withdrawn", TESS, ARTICLE_ID) in actions
    listing = h.say(TESS, "articles")[0].text
    assert "Published articles: 0" in listing and "Withdrawn (1;" in listing
    shown = h.say(TESS, f"article {ARTICLE_ID}")[0]
    assert "wrong fix, the cause was MFA" in dict(shown.card.fields)["Withdrawn"]
    assert "already withdrawn" in h.say(TESS, f"withdraw article {ARTICLE_ID}")[0].text
    assert "Restored" in h.say(TESS, f"restore article {ARTICLE_ID}")[0].text
    assert answer(h, service, question) == ARTICLE_ID
    with h.bot.sessions() as s:
        assert s.get(KbArticle, ARTICLE_ID).withdrawn_at is None
        assert "kb_article_restored" in [a.action for a in s.scalars(select(AuditRecord))]
    assert "is not withdrawn" in h.say(TESS, f"restore article {ARTICLE_ID}")[0].text


def test_cancelling_a_withdrawal_keeps_the_article_answering(desk) -> None:
    h, service = desk
    ask = h.press(TESS, f"article.withdraw:{ARTICLE_ID}")[0]
    assert "Nothing withdrawn" in h.press(TESS, h.button([ask], "Cancel"))[0].text
    assert answer(h, service, "outlook asks for password every few minutes") == ARTICLE_ID


# --- the draft: steps an employee can follow --------------------------------------------------------------


def test_sentences_become_imperative_numbered_steps() -> None:
    body = draft_body(
        PROBLEM, "Removed the old credentials from Windows Credential Manager. Signed in again."
    )
    assert "1. Remove the old credentials from Windows Credential Manager.\n2. Sign in again." in body
    assert body.startswith(f"**Symptom:** {PROBLEM}") and body.endswith(DRAFT_ENDING)
    assert "ask for a technician" in DRAFT_ENDING


def test_semicolons_then_and_first_person_become_separate_steps() -> None:
    assert steps_from("I cleared the Teams cache; then we restarted Teams, then signed in") == [
        "Clear the Teams cache.",
        "Restart Teams.",
        "Sign in.",
    ]


def test_line_breaks_and_list_marks_become_steps_without_desk_only_remarks() -> None:
    resolution = (
        "- Asked the user to unplug the dock\n"
        "- Plugged it back in after 10 seconds (see #123)\n"
        "Note: dock firmware is old, order new ones\n"
        "User confirmed it works\n"
        "Closing the ticket."
    )
    assert steps_from(resolution) == ["Unplug the dock.", "Plug it back in after 10 seconds."]


def test_ticket_numbers_and_the_user_become_you() -> None:
    steps = steps_from(
        "Had the user reset the MFA registration in the portal per ticket 88, then updated the user's "
        "authenticator app. Fixed."
    )
    assert steps == ["Reset the MFA registration in the portal.", "Update your authenticator app."]


def test_a_single_step_and_verbs_that_are_not_past_tense_stay_as_written() -> None:
    assert steps_from("Open Settings > Accounts and choose Sync now.") == [
        "Open Settings > Accounts and choose Sync now."
    ]
    assert steps_from("Reinstalled the VPN client") == ["Reinstall the VPN client."]
    assert steps_from("Fixed.") == []
    assert "1." not in draft_body("x", "Done.") and "(no steps recorded)" in draft_body("x", "Done.")


def test_article_commands_are_commands_in_a_ticket_thread_and_in_help(desk) -> None:
    h, _ = desk
    in_thread = h.say(TESS, "articles", thread=1)
    assert [r.to for r in in_thread] == [TESS] and "Published articles: 1" in in_thread[0].text
    assert "withdraw article ID" in h.say(TESS, "help")[0].text
    assert "withdraw article" not in h.say(ADA, "help")[0].text
