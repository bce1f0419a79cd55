"""Forged or absurd button arguments get a plain answer: no crash, no "bot error" ticket, nothing posted,
and nothing changed by someone who may not change it — checked by hand for the shapes an adversarial trial
used, then by hypothesis for every registered button, any argument, every role."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.messages import Reply
from bot.store.models import KbArticle, Ticket, TicketEvent
from handlers import arguments
from tests.conftest import Harness, build_bot

ADA, BOB, TESS, GRACE = "ada@example.com", "bob@example.com", "tess@example.com", "grace@example.com"
STRANGER = "stranger@elsewhere.org"
TWENTY_DIGITS = "9" * 20


def bot_errors(h: Harness) -> int:
    with h.bot.sessions() as s:
        return int(s.scalar(select(func.count()).where(Ticket.category == "bot_error")) or 0)


def with_a_ticket(h: Harness) -> None:
    h.say(ADA, "talk to a human")
    h.say(ADA, "my keyboard is dead")
    h.say(ADA, "not urgent")


def assert_refused_quietly(h: Harness, replies: list[Reply], who: str) -> None:
    assert replies and all(r.to == who for r in replies), [(r.to, r.text) for r in replies]
    assert not any("went wrong" in r.text for r in replies), replies[0].text
    assert bot_errors(h) == 0


@pytest.mark.parametrize(
    "button",
    [
        "ticket.reopen:²",
        "ticket.reopen:١",
        f"ticket.reopen:{TWENTY_DIGITS}",
        f"ticket.answer:{TWENTY_DIGITS}",
        f"ticket.rate:{TWENTY_DIGITS}:5",
        "ticket.rate:²:5",
        f"kb.solved:{TWENTY_DIGITS}",
        "kb.unhelpful:²",
        f"kb.escalate:{TWENTY_DIGITS}",
        "kb.unhelpful:" + "1" * 200,  # long, yet within the button-id cap
    ],
)
def test_absurd_ids_name_nothing_and_open_no_ticket(harness: Harness, button: str) -> None:
    with_a_ticket(harness)
    replies = harness.press(ADA, button)
    assert_refused_quietly(harness, replies, ADA)
    assert "There is no" in replies[0].text or "can't find that question" in replies[0].text


@pytest.mark.parametrize(
    "button", [f"ticket.claim:{TWENTY_DIGITS}", "ticket.claim:²", "kb.draft:²", f"kb.draft:{TWENTY_DIGITS}"]
)
def test_absurd_ids_on_technician_buttons_name_nothing(harness: Harness, button: str) -> None:
    replies = harness.press(TESS, button)
    assert_refused_quietly(harness, replies, TESS)
    assert "There is no ticket" in replies[0].text


def test_a_huge_button_id_is_refused_by_the_engine(harness: Harness) -> None:
    replies = harness.press(ADA, "kb.unhelpful:" + "1" * 100_000)
    assert_refused_quietly(harness, replies, ADA)
    assert "don't know that button" in replies[0].text


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12", 12), ("0", None), ("²", None), ("١٢", None), (" 12", None), ("-1", None), (TWENTY_DIGITS, None)],
)
def test_record_ids_are_ascii_digits_within_the_database_range(text: str, expected: int | None) -> None:
    assert arguments.record_id(text) == expected


# ---------------------------------------------------------------- every button, any argument, every role

ROLES = (ADA, BOB, TESS, GRACE, STRANGER)  # requester, another employee, technician, manager, unknown
UNAUTHORISED = (BOB, STRANGER)  # may change no ticket of Ada's and publish nothing
ARGUMENT = st.one_of(
    st.sampled_from(["", "1", "2", "1:5", "1:", ":", "0", "²", "١", "𝟏", "urgent", "title", TWENTY_DIGITS]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(max_size=40),
    st.tuples(st.sampled_from(["1", "2", "²"]), st.text(max_size=20)).map(":".join),
)


def _snapshot(h: Harness) -> tuple[object, ...]:
    """What an unauthorised press must not change: the existing tickets, their history, the articles."""
    with h.bot.sessions() as s:
        tickets = [
            (t.id, t.status, t.assignee_email, tuple(t.flags), t.rating, t.resolution, t.urgent)
            for t in s.scalars(select(Ticket).where(Ticket.id <= 2).order_by(Ticket.id))
        ]
        events = s.scalar(select(func.count()).where(TicketEvent.ticket_id <= 2))
        articles = s.scalar(select(func.count()).select_from(KbArticle))
    return tuple(tickets), events, articles


def test_every_button_with_any_argument_as_any_role_fails_safe(tmp_path: Path) -> None:
    bot, _ = build_bot(f"sqlite:///{tmp_path / 'frontdesk.db'}", reset_verification="manager_approval")
    h = Harness(bot)
    with_a_ticket(h)  # #1, new
    with_a_ticket(h)  # #2, resolved: rate, reopen and publish buttons have something to act on
    h.say(TESS, "resolve 2 Replaced the keyboard")
    names = sorted(bot.services.registry.action_names())
    assert {"ticket.claim", "ticket.reopen", "kb.unhelpful", "account.approve"} <= set(names)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(name=st.sampled_from(names), argument=ARGUMENT, who=st.sampled_from(ROLES))
    def press(name: str, argument: str, who: str) -> None:
        before = _snapshot(h)
        replies = h.press(who, f"{name}:{argument}" if argument else name)
        assert not any("went wrong" in r.text for r in replies), (name, argument, who)
        assert bot_errors(h) == 0, (name, argument, who)
        if who in UNAUTHORISED:
            assert _snapshot(h) == before, (name, argument, who)

    press()
