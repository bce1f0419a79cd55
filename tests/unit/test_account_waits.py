"""Issue 9, items 7 and 8: the code prompt asks for typed digits (input_hint), and waiting for a manager's
approval neither swallows clear requests nor outlives the approval's expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.store.models import KbQuestion, ResetRequest
from handlers.account import approval
from tests.conftest import Harness
from tests.unit.test_account_flows import (  # noqa: F401 (fixtures)
    ADA_RECOVERY,
    code_from,
    directory_account,
    email_bot,
    manager_bot,
)

ADA, GRACE = "ada@example.com", "grace@example.com"
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_every_reply_that_asks_for_the_code_says_so(email_bot) -> None:  # noqa: F811
    h, mailbox = email_bot
    asked = h.say(ADA, "I forgot my password")
    assert [r.input_hint for r in asked] == ["code"]
    wrong = h.say(ADA, "000000" if code_from(mailbox, ADA_RECOVERY) != "000000" else "111111")
    assert wrong[0].input_hint == "code" and "isn't right" in wrong[0].text
    assert h.say(ADA, "12")[0].input_hint == "code"  # "please type the 6-digit code"


def _waiting(sqlite_url: str) -> tuple[Harness, str]:
    h = manager_bot(sqlite_url)
    asked = h.say(ADA, "I forgot my password")
    return h, h.button(Harness.to(asked, GRACE), "Approve")


def test_clear_requests_work_while_waiting_for_approval(sqlite_url: str) -> None:
    h, approve = _waiting(sqlite_url)
    mine = h.say(ADA, "my tickets")
    assert "You have no tickets" in mine[0].text
    question = h.say(ADA, "how do I connect to the vpn")
    assert "Connect to the VPN" in question[0].text
    assert "still waiting for your manager" in question[-1].text
    done = h.press(GRACE, approve)  # the wait was kept: the approval still completes the reset
    assert any(r.secret for r in Harness.to(done, ADA))
    assert directory_account(h.bot, ADA).resets == 1


def test_talk_to_a_human_while_waiting_starts_a_ticket_and_says_the_request_was_dropped(
    sqlite_url: str,
) -> None:
    h, approve = _waiting(sqlite_url)
    human = h.say(ADA, "talk to a human")
    assert "I'll open a ticket" in " ".join(r.text for r in human)
    assert "cancelled your password reset request" in " ".join(r.text for r in human)
    assert "already handled (cancelled)" in h.press(GRACE, approve)[0].text


def test_an_expired_approval_releases_the_person_and_tells_them(sqlite_url: str, frozen_clock) -> None:
    frozen_clock(START)
    h, approve = _waiting(sqlite_url)
    frozen_clock(START + timedelta(minutes=61))
    replies = h.say(ADA, "how do I connect to the vpn")
    assert "expired" in replies[0].text and "nothing was changed" in replies[0].text
    assert any("Connect to the VPN" in r.text for r in replies)  # the message itself is handled as usual
    assert not any("waiting for your manager" in r.text for r in replies)
    with h.bot.sessions() as s:
        assert [r.status for r in s.scalars(select(ResetRequest))] == ["expired"]
        assert s.scalars(select(KbQuestion)).one().text == "how do I connect to the vpn"
    assert "already handled (expired)" in h.press(GRACE, approve)[0].text


def test_expire_approval_is_callable_by_a_scheduled_job(sqlite_url: str, frozen_clock) -> None:
    frozen_clock(START)
    h, _ = _waiting(sqlite_url)
    with h.bot.sessions.begin() as s:
        request = s.scalars(select(ResetRequest)).one()
        assert not approval.expire_approval(s, request, ttl_minutes=60)  # not yet
    frozen_clock(START + timedelta(minutes=61))
    with h.bot.sessions.begin() as s:
        request = s.scalars(select(ResetRequest)).one()
        assert approval.expire_approval(s, request, ttl_minutes=60)
        assert not approval.expire_approval(s, request, ttl_minutes=60)  # once
    replies = h.say(ADA, "hello there")
    assert "expired" in replies[0].text  # released and told on their next message
