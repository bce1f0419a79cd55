"""A clear other request typed in the middle of a flow is handled as that request, not swallowed as the
step's answer (router `_set_aside`): at a step waiting for a choice, a known command or a clear intent; at
a step waiting for free text, only a known command. The classifier is the product's (lexical) model, so
the phrasings below are read as real messages are."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from sqlalchemy import select

from automations.demo_directory import DemoDirectory
from bot.messages import Reply
from bot.settings import DEMO_ACCESS_CATALOG, DEMO_DIRECTORY_FILE
from bot.store.models import AccessRequest, ResetRequest, Ticket
from handlers.registry import STALE
from kb.intent import classify_message
from tests.conftest import Harness, build_bot
from tests.servers.smtp import Mailbox

BOB, GRACE, TESS = "bob@example.com", "grace@example.com", "tess@example.com"
KEPT = "Your access request is still open"
DROPPED = "I've dropped your access request"
PRESS_CONFIRM = "Please press Confirm to send the request, or Cancel."


def product_classify(text: str) -> tuple[str | None, float]:
    result = classify_message(text, semantic=False)
    return result.intent, result.confidence


@pytest.fixture
def h(sqlite_url: str, clock: Callable[..., None]) -> Harness:
    bot, _ = build_bot(
        sqlite_url,
        directory=DemoDirectory.from_file(DEMO_DIRECTORY_FILE),
        access_catalog=DEMO_ACCESS_CATALOG,
        classify=product_classify,
    )
    return Harness(bot)


def texts(replies: list[Reply], to: str = BOB) -> str:
    return "\n".join(r.text for r in replies if r.to == to)


def rows(h: Harness, model: type) -> list:
    with h.bot.sessions() as s:
        return list(s.scalars(select(model).order_by(model.id)))


def open_ticket(h: Harness, problem: str = "my monitor flickers when I open Excel") -> int:
    h.say(BOB, "new ticket")
    h.say(BOB, problem)
    done = h.say(BOB, "not urgent")
    ticket = next(r.ticket for r in done if r.ticket)
    assert ticket is not None
    return ticket


def at_duration(h: Harness) -> list[Reply]:
    asked = h.say(BOB, "I need access to the finance share")
    assert "For how long" in texts(asked)
    return asked


def at_justification(h: Harness) -> list[Reply]:
    asked = h.press(BOB, h.button(at_duration(h), "8 hours (usual)"))
    assert "Why do you need it?" in texts(asked)
    return asked


def at_confirm(h: Harness, why: str = "month-end close") -> list[Reply]:
    at_justification(h)
    confirm = h.say(BOB, why)
    assert "Request Finance reports for 8 hours?" in texts(confirm)
    return confirm


def at_urgency(h: Harness) -> list[Reply]:
    h.say(BOB, "new ticket")
    asked = h.say(BOB, "the printer on floor 2 jams on every page")
    assert "Is it urgent" in texts(asked)
    return asked


def test_my_tickets_at_the_justification_prompt_lists_them_and_keeps_the_request(h: Harness) -> None:
    ticket = open_ticket(h)
    at_justification(h)
    said = h.say(BOB, "my tickets")
    assert f"#{ticket}" in texts(said) and "Your tickets:" in said[0].text
    assert KEPT in said[-1].text
    confirm = h.say(BOB, "month-end close")  # the next message is the justification, as asked
    assert "Why: month-end close" in texts(confirm)
    h.press(BOB, h.button(confirm, "Confirm"))
    sent = [(r.entry_id, r.justification) for r in rows(h, AccessRequest)]
    assert sent == [("finance-reports", "month-end close")]


def test_forgot_password_at_the_confirm_step_starts_a_reset_and_drops_the_request(h: Harness) -> None:
    confirm = at_confirm(h)
    said = h.say(BOB, "I forgot my password")
    assert said[0].text.startswith(DROPPED)
    assert "I've asked your manager, Grace Hopper, to confirm" in texts(said[1:])
    assert PRESS_CONFIRM not in texts(said)
    assert [r.kind for r in rows(h, ResetRequest)] == ["reset"]
    late = h.press(BOB, h.button(confirm, "Confirm"))  # the old Confirm button is stale now
    assert texts(late) == STALE
    assert rows(h, AccessRequest) == []


@pytest.mark.parametrize(
    ("typed", "urgent"),
    [
        ("urgent", True),
        ("not urgent", False),
        ("yes", True),
        ("It's urgent, I can't work", True),
        ("yes asap please", True),
        ("kind of, it blocks me from sending invoices", True),
        ("no, not urgent", False),
        ("it can wait till tomorrow", False),
        ("not really, I can still work", False),
        ("no rush", False),
    ],
)
def test_urgency_answers_still_answer(h: Harness, typed: str, urgent: bool) -> None:
    at_urgency(h)
    done = h.say(BOB, typed)
    assert "I've opened ticket #" in texts(done)
    assert [t.urgent for t in rows(h, Ticket)] == [urgent]


def test_a_justification_that_mentions_passwords_stays_the_justification(h: Harness) -> None:
    at_justification(h)
    why = "I need it because I reset passwords for my team"
    confirm = h.say(BOB, why)
    assert f"Why: {why}" in texts(confirm)
    assert rows(h, ResetRequest) == []


@pytest.mark.parametrize(
    "problem", ["my laptop won't boot", "I forgot my password and the reset page says my account is locked"]
)
def test_the_ticket_problem_step_takes_prose_as_the_problem(h: Harness, problem: str) -> None:
    h.say(BOB, "new ticket")
    asked = h.say(BOB, problem)
    assert "Is it urgent" in texts(asked)
    h.say(BOB, "urgent")
    assert [(t.problem, t.urgent) for t in rows(h, Ticket)] == [(problem, True)]
    assert rows(h, ResetRequest) == []


def test_a_command_at_the_ticket_problem_step_is_a_command(h: Harness) -> None:
    ticket = open_ticket(h)
    h.say(BOB, "new ticket")
    said = h.say(BOB, "my tickets")
    assert f"#{ticket}" in texts(said)
    assert "The ticket we were opening is still open" in said[-1].text
    h.say(BOB, "the projector in room 4 shows no picture")
    h.say(BOB, "not urgent")
    assert len(rows(h, Ticket)) == 2


@pytest.fixture
def code_bot(sqlite_url: str, smtp_server: Mailbox) -> Harness:
    bot, _ = build_bot(
        sqlite_url, smtp_host=smtp_server.host, smtp_port=smtp_server.port, reset_verification="email_code"
    )
    return Harness(bot)


def test_a_command_while_waiting_for_the_verification_code(code_bot: Harness, smtp_server: Mailbox) -> None:
    ada = "ada@example.com"
    asked = code_bot.say(ada, "I forgot my password")
    assert "Type it here" in texts(asked, ada)
    said = code_bot.say(ada, "my tickets")
    assert "You have no tickets" in said[0].text
    assert "Your password reset or unlock is still open" in said[-1].text
    message = smtp_server.wait_for("ada.home@example.net", 1)[-1]
    code = re.findall(r"\b\d{6}\b", message.get_payload())[0]
    done = code_bot.say(ada, code)  # digits are still the code
    assert any(r.secret for r in done)


def test_new_ticket_while_waiting_for_the_code_drops_the_reset(code_bot: Harness) -> None:
    ada = "ada@example.com"
    code_bot.say(ada, "I forgot my password")
    said = code_bot.say(ada, "new ticket")
    assert said[0].text.startswith("I've dropped your password reset or unlock")
    assert "what's the problem?" in texts(said, ada)
    assert [r.status for r in rows(code_bot, ResetRequest)] == ["cancelled"]


def test_an_approver_may_look_at_approvals_while_writing_a_denial(h: Harness) -> None:
    at_confirm(h)
    cards = h.press(BOB, "access.confirm")
    asked = h.press(GRACE, h.button(Harness.to(cards, GRACE), "Deny"))  # Grace is Bob's manager
    assert "Why are you denying it?" in texts(asked, GRACE)
    listed = h.say(GRACE, "approvals")
    assert "Waiting for your approval" in listed[0].text
    assert "The denial you were writing is still open" in listed[-1].text
    assert [r.status for r in rows(h, AccessRequest)] == ["pending"]  # a typed command decides nothing
    h.say(GRACE, "not needed for your role")
    assert [(r.status, r.reason) for r in rows(h, AccessRequest)] == [("denied", "not needed for your role")]


def test_a_technicians_reason_that_cites_a_ticket_stays_the_reason(h: Harness) -> None:
    asked = h.say(TESS, "I need access to the vpn")
    h.press(TESS, h.button(asked, "7 days (usual)"))
    confirm = h.say(TESS, "ticket 42")
    assert "Why: ticket 42" in texts(confirm, TESS)


def test_a_technician_command_at_a_free_text_step_is_a_command(h: Harness) -> None:
    asked = h.say(TESS, "I need access to the vpn")
    h.press(TESS, h.button(asked, "7 days (usual)"))
    said = h.say(TESS, "queue")
    assert "Your access request is still open" in said[-1].text
    assert "Skip" in [b.label for b in said[-1].buttons]  # the question's own button again
    h.press(TESS, h.button(said, "Skip"))
    h.say(TESS, "yes")
    assert [r.entry_id for r in rows(h, AccessRequest)] == ["vpn"]


# People changing their mind at a step that offered buttons, and what must happen.
CHANGED_MIND = [
    (at_confirm, "actually I forgot my password", "reset"),
    (at_confirm, "wait, I also need to reset my password", "reset"),
    (at_confirm, "never mind that, my account is locked", "unlock"),
    (at_confirm, "I'm locked out of my account", "unlock"),
    (at_confirm, "can I talk to a human", "person"),
    (at_confirm, "forget it, I just want to talk to someone", "person"),
    (at_confirm, "new ticket", "person"),
    (at_confirm, "any update on my ticket?", "tickets"),
    (at_confirm, "my tickets", "tickets"),
    (at_confirm, "status", "tickets"),
    (at_confirm, "what access do I have?", "access"),
    (at_duration, "my tickets", "tickets"),
    (at_duration, "get me a person", "person"),
    (at_duration, "I forgot my password", "reset"),
    (at_confirm, "oh wait can you reset my password first", "reset"),
    (at_confirm, "hold on, my account got locked", "unlock"),
    (at_confirm, "I need to speak with someone from IT", "person"),
    (at_confirm, "did anyone look at my ticket yet", "tickets"),
]


@pytest.mark.parametrize(("step", "typed", "outcome"), CHANGED_MIND)
def test_a_clear_other_request_at_a_choice_step_is_handled(
    h: Harness, step: Callable[[Harness], list[Reply]], typed: str, outcome: str
) -> None:
    step(h)
    said = h.say(BOB, typed)
    assert PRESS_CONFIRM not in texts(said) and "For how long" not in texts(said)
    if outcome in ("tickets", "access"):
        expected = "You have no tickets" if outcome == "tickets" else "access"
        assert expected in said[0].text
        assert said[-1].text.startswith(KEPT) and said[-1].buttons  # the question's buttons again
        return
    assert said[0].text.startswith(DROPPED)
    if outcome == "person":
        assert "I'll open a ticket for a technician" in texts(said)
    else:
        assert [r.kind for r in rows(h, ResetRequest)] == [outcome]
    assert rows(h, AccessRequest) == []


def test_asking_for_other_access_at_the_confirm_step_starts_that_request(h: Harness) -> None:
    at_confirm(h)
    said = h.say(BOB, "I need access to the vpn")
    assert said[0].text == "I've dropped your access request and started again with what you just asked."
    assert "VPN: Remote access over the corporate VPN" in texts(said[1:])


@pytest.mark.parametrize(
    "typed",
    [
        "hmm",
        "what?",
        "it stops me working",
        "Finance reports, please",
        "confirm it please",
        "is a person going to look at this?",
        "will my manager see this?",
        "who approves this?",
        "does this reset my password?",
    ],
)
def test_anything_else_at_the_confirm_step_still_asks_to_press(h: Harness, typed: str) -> None:
    at_confirm(h)
    said = h.say(BOB, typed)
    assert PRESS_CONFIRM in texts(said) and DROPPED not in texts(said)


def test_a_typed_yes_or_confirm_still_sends_the_request(h: Harness) -> None:
    at_confirm(h)
    h.say(BOB, "yes")
    assert [r.entry_id for r in rows(h, AccessRequest)] == ["finance-reports"]


def test_a_secret_typed_mid_flow_is_hidden_and_warned_about(h: Harness) -> None:
    at_confirm(h)
    said = h.say(BOB, "my password is Hunter2!x")
    assert "never send passwords in chat" in texts(said)
    assert "Hunter2!x" not in texts(said)
