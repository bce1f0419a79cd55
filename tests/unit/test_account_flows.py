"""Password reset and unlock on the demo directory: verification, refusals, limits, idempotency, audit.
(The same flows against real slapd and Samba AD are in tests/integration/test_account_ldap.py.)"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.messages import Reply
from bot.store.models import AuditRecord, ResetRequest, Ticket
from tests.conftest import Harness, build_bot
from tests.servers.smtp import Mailbox

ADA, BOB, GRACE, RITA, DAN, TESS = (
    f"{n}@example.com" for n in ("ada", "bob", "grace", "rita", "dan", "tess")
)


def secret_of(replies: list[Reply], who: str) -> str | None:
    return next((r.secret for r in replies if r.to == who and r.secret), None)


def code_from(mailbox: Mailbox, address: str, count: int = 1) -> str:
    message = mailbox.wait_for(address, count)[-1]
    found = re.search(r"\b(\d{6})\b", message.get_payload())
    assert found, message.get_payload()
    return found.group(1)


def directory_account(bot, email: str):
    directory = bot.services.directory
    return directory._accounts[email]


@pytest.fixture
def email_bot(sqlite_url: str, smtp_server: Mailbox):
    bot, _ = build_bot(
        sqlite_url, smtp_host=smtp_server.host, smtp_port=smtp_server.port, reset_verification="email_code"
    )
    return Harness(bot), smtp_server


def audit_actions(h: Harness) -> list[str]:
    with h.bot.sessions() as s:
        return [a.action for a in s.scalars(select(AuditRecord).order_by(AuditRecord.id))]


def test_email_code_reset_end_to_end(email_bot) -> None:
    h, mailbox = email_bot
    asked = h.say(ADA, "I forgot my password")
    assert "a*" in asked[0].text and "@example.net" in asked[0].text  # masked recovery address
    code = code_from(mailbox, "ada.home@example.net")
    done = h.say(ADA, code)
    password = secret_of(done, ADA)
    assert password and password in done[0].text and done[0].delete_after == 600
    account = directory_account(h.bot, ADA)
    assert account.resets == 1 and account.must_change
    notice = mailbox.wait_for(ADA, 1)[-1]
    assert "If this wasn't you" in notice.get_payload()
    assert audit_actions(h) == ["reset.requested", "reset.code_sent", "reset.verified", "reset.done"]


def test_without_verification_nothing_changes(email_bot) -> None:
    h, _ = email_bot
    h.say(ADA, "reset my password please")
    h.say(ADA, "cancel")
    assert directory_account(h.bot, ADA).resets == 0


def test_five_wrong_codes_stop_the_flow(email_bot) -> None:
    h, mailbox = email_bot
    h.say(ADA, "I forgot my password")
    right = code_from(mailbox, "ada.home@example.net")
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    answers = [h.say(ADA, wrong)[0].text for _ in range(5)]
    assert "4 tries left" in answers[0] and "Too many wrong codes" in answers[-1]
    after = h.say(ADA, right)
    assert secret_of(after, ADA) is None
    assert directory_account(h.bot, ADA).resets == 0


def test_expired_code_fails(email_bot, frozen_clock) -> None:
    h, mailbox = email_bot
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    frozen_clock(start)
    h.say(ADA, "I forgot my password")
    code = code_from(mailbox, "ada.home@example.net")
    frozen_clock(start + timedelta(minutes=11))
    replies = h.say(ADA, code)
    assert "expired" in replies[0].text and secret_of(replies, ADA) is None


def test_new_code_voids_the_old_one_and_codes_are_single_use(email_bot) -> None:
    h, mailbox = email_bot
    h.say(ADA, "I forgot my password")
    old = code_from(mailbox, "ada.home@example.net", 1)
    h.press(ADA, "account.new_code")
    new = code_from(mailbox, "ada.home@example.net", 2)
    if old != new:
        assert "isn't right" in h.say(ADA, old)[0].text
    assert secret_of(h.say(ADA, new), ADA)
    # a second request: the first request's code is worthless now
    h.say(ADA, "I forgot my password again")
    assert "isn't right" in h.say(ADA, new)[0].text or code_from(mailbox, "ada.home@example.net", 3) == new


def test_restart_between_code_and_confirmation_resumes(sqlite_url: str, smtp_server: Mailbox) -> None:
    settings = {"smtp_host": smtp_server.host, "smtp_port": smtp_server.port}
    first, _ = build_bot(sqlite_url, **settings)
    Harness(first).say(ADA, "I forgot my password")
    code = code_from(smtp_server, "ada.home@example.net")
    restarted, _ = build_bot(sqlite_url, **settings)
    restarted.services.directory = first.services.directory  # same directory server, new bot process
    assert secret_of(Harness(restarted).say(ADA, code), ADA)


def test_retried_code_message_resets_once(email_bot) -> None:
    h, mailbox = email_bot
    h.say(ADA, "I forgot my password")
    code = code_from(mailbox, "ada.home@example.net")
    assert secret_of(h.say(ADA, code, event_id="slack-evt-9"), ADA)
    assert h.say(ADA, code, event_id="slack-evt-9") == []
    assert directory_account(h.bot, ADA).resets == 1


def test_manager_approval_path(sqlite_url: str) -> None:
    bot, _ = build_bot(sqlite_url, reset_verification="manager_approval")
    h = Harness(bot)
    asked = h.say(ADA, "I forgot my password")
    to_grace = Harness.to(asked, GRACE)[0]
    approve = h.button(to_grace and [to_grace], "Approve")
    assert "asked your manager, Grace Hopper" in Harness.to(asked, ADA)[0].text
    assert "only the person's manager" in h.press(ADA, approve)[0].text  # never yourself
    assert "only the person's manager" in h.press(TESS, approve)[0].text  # nor a bystander
    done = h.press(GRACE, approve)
    assert secret_of(done, ADA) and not secret_of(done, GRACE)
    assert "already handled" in h.press(GRACE, approve)[0].text  # a replayed click acts once
    assert directory_account(bot, ADA).resets == 1


def test_stale_approval_does_nothing(sqlite_url: str, frozen_clock) -> None:
    bot, _ = build_bot(sqlite_url, reset_verification="manager_approval")
    h = Harness(bot)
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    frozen_clock(start)
    approve = h.button(h.say(ADA, "I forgot my password"), "Approve")
    frozen_clock(start + timedelta(minutes=61))
    assert "expired" in h.press(GRACE, approve)[0].text
    assert directory_account(bot, ADA).resets == 0


def test_no_recovery_address_falls_back_to_manager(email_bot) -> None:
    h, _ = email_bot
    replies = h.say(BOB, "I forgot my password")  # Bob has a manager but no recovery address
    assert any(r.to == GRACE and "Approve" in [b.label for b in r.buttons] for r in replies)


@pytest.mark.parametrize("who", [RITA, DAN, "nobody@example.com"])
def test_protected_disabled_and_unknown_accounts_get_the_same_words_and_a_ticket(email_bot, who: str) -> None:
    h, mailbox = email_bot
    replies = h.say(who, "I forgot my password")
    mine = Harness.to(replies, who)[0]
    assert re.sub(r"#\d+", "#N", mine.text) == (
        "I can't reset the password of this account automatically, so "
        "I've opened ticket #N for a technician, who will contact you."
    )
    assert mailbox.to("rita@example.net") == [] and mailbox.to("dan@example.net") == []
    with h.bot.sessions() as s:
        ticket = s.get(Ticket, mine.ticket)
        assert ticket.urgent and ticket.category == "reset" and "Bot stopped because" in ticket.transcript
        assert s.scalars(select(ResetRequest)).all() == []  # refused before any verification or write


def test_someone_elses_account_is_never_touched(email_bot) -> None:
    h, mailbox = email_bot
    for text in ("reset the password for bob@example.com", "please reset my manager's password"):
        assert "only reset the password of your own account" in h.say(ADA, text)[0].text
    assert directory_account(h.bot, BOB).resets == 0 and mailbox.messages == []


def test_reset_limit_per_day(sqlite_url: str) -> None:
    bot, _ = build_bot(sqlite_url, reset_verification="chat_identity", resets_per_day=2)
    h = Harness(bot)
    assert secret_of(h.say(ADA, "I forgot my password"), ADA)
    assert secret_of(h.say(ADA, "I forgot my password"), ADA)
    assert "limit of 2 password resets" in h.say(ADA, "I forgot my password")[0].text


def test_guests_are_refused(sqlite_url: str) -> None:
    from bot.messages import Inbound, Person

    bot, _ = build_bot(sqlite_url, reset_verification="chat_identity")
    replies = bot.handle(Inbound(Person("slack", "U1", ADA, is_guest=True), text="I forgot my password"))
    assert "guest" in replies[0].text and directory_account(bot, ADA).resets == 0


def test_unlock_when_locked_and_when_not(sqlite_url: str) -> None:
    bot, _ = build_bot(sqlite_url)  # unlock verification defaults to chat_identity
    h = Harness(bot)
    done = h.say(BOB, "I'm locked out of my account")
    assert "unlocked" in done[0].text and not directory_account(bot, BOB).locked
    assert directory_account(bot, BOB).resets == 0  # the password was not touched
    again = h.say(BOB, "my account is locked, unlock it")
    assert "isn't locked" in again[0].text and "Reset my password" in [b.label for b in again[0].buttons]
    assert "unlock.done" in audit_actions(h)


def test_the_secret_is_in_no_log_line_and_no_database_row(email_bot, sqlite_url: str) -> None:
    from bot import logs

    stream = io.StringIO()
    logs.configure_logging("DEBUG", "json", stream=stream)
    h, mailbox = email_bot
    h.say(ADA, "I forgot my password")
    password = secret_of(h.say(ADA, code_from(mailbox, "ada.home@example.net")), ADA)
    assert password
    assert password not in stream.getvalue()
    with h.bot.sessions() as s:
        for table in (
            "audit_log",
            "reset_requests",
            "tickets",
            "ticket_events",
            "conversations",
            "kb_questions",
        ):
            rows = s.connection().exec_driver_sql(f"SELECT * FROM {table}").fetchall()
            assert not any(password in str(value) for row in rows for value in row), table


class _DownDirectory:
    """The demo directory, except that account operations find the server gone."""

    def __init__(self, inner) -> None:
        self.inner, self.name = inner, "down"

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def account_status(self, person):
        from automations.directory import DirectoryUnavailable

        raise DirectoryUnavailable("connection refused")


def test_directory_down_gets_a_clear_message_and_a_ticket(sqlite_url: str) -> None:
    from automations.demo_directory import DemoDirectory
    from tests.conftest import DIRECTORY

    bot, _ = build_bot(
        sqlite_url,
        directory=_DownDirectory(DemoDirectory.from_document(DIRECTORY)),
        reset_verification="chat_identity",
    )
    replies = Harness(bot).say(ADA, "I forgot my password")
    mine = Harness.to(replies, ADA)[0]
    assert "can't reach the company directory" in mine.text and mine.ticket
    with bot.sessions() as s:
        assert "directory unavailable" in s.get(Ticket, mine.ticket).transcript
