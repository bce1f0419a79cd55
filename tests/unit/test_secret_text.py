"""Issue 9, item 2: text that looks like a password is hidden wherever user text is stored, posted, emailed or
logged — tickets, their events and transcript, knowledge-base questions, the gaps report, triage, email
subjects, log lines — and the person is told."""

from __future__ import annotations

import pytest

from bot.redact import HIDDEN, hide_secrets
from tests.conftest import Harness, build_bot
from tests.servers.smtp import Mailbox
from tests.unit.test_account_flows import assert_secret_nowhere, json_logs  # noqa: F401 (a fixture)

ADA, TESS = "ada@example.com", "tess@example.com"
FIRST, SECOND = "Summer2024!", "Winter2025#"


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("my password is Summer2024!", f"my password is {HIDDEN}"),
        ("outlook fails, pwd: Summer2024! since monday", f"outlook fails, pwd: {HIDDEN} since monday"),
        ("the code is 123456", f"the code is {HIDDEN}"),
        ("my password is not working", "my password is not working"),
        ("my password is expired", "my password is expired"),
    ],
)
def test_hide_secrets_hides_only_the_secret(text: str, hidden: str) -> None:
    assert hide_secrets(text) == hidden


def test_a_password_in_a_question_is_hidden_everywhere(
    sqlite_url: str,
    smtp_server: Mailbox,
    json_logs,  # noqa: F811
) -> None:
    bot, _ = build_bot(sqlite_url, smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    h = Harness(bot)
    asked = h.say(ADA, f"outlook won't open, my password is {FIRST}")
    assert any("I hid what looked like a password" in r.text for r in asked)
    h.press(ADA, h.button(asked, "Open a ticket"))
    opened = h.press(ADA, "new_ticket.urgency:normal")
    ticket_id = Harness.to(opened, ADA)[-1].ticket
    h.say(TESS, f"claim {ticket_id}")
    h.say(TESS, f"reply {ticket_id} which account is it?")
    relayed = h.say(ADA, f"the one where pwd: {SECOND}")
    assert any("I hid what looked like a password" in r.text for r in Harness.to(relayed, ADA))
    h.say(TESS, "gaps")
    assert smtp_server.wait_for(ADA, 2) and smtp_server.wait_for(TESS, 1)
    for secret in (FIRST, SECOND):
        assert [r.text for r in h.sent if secret in r.text or secret in str(r.card)] == []
        assert_secret_nowhere(h.bot, secret, smtp_server, json_logs.getvalue())
    with h.bot.sessions() as s:
        from bot.store.models import Ticket

        ticket = s.get(Ticket, ticket_id)
        assert HIDDEN in ticket.problem and "outlook won't open" in ticket.subject


def test_a_description_of_a_password_problem_is_kept_and_not_warned_about(harness: Harness) -> None:
    replies = harness.say(ADA, "my password is not working in outlook")
    assert not any("I hid" in r.text for r in replies)
