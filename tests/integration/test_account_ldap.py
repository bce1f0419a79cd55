"""Reset and unlock through the bot against real directories: OpenLDAP slapd (ppolicy) and a Samba AD DC,
with codes and notices through a real SMTP server. The servers are started by the tests themselves."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from automations.ldap import LdapDirectory
from bot import logs
from bot.messages import Inbound, Person, Reply
from bot.store.models import AuditRecord, ResetRequest, Ticket
from handlers import account
from tests.conftest import Harness, build_bot
from tests.servers.directory import DirectoryServer, TestUser
from tests.servers.smtp import Mailbox
from tests.unit.test_account_flows import assert_secret_nowhere

REFUSAL = re.compile(
    r"^I can't reset the password of this account automatically, so I've opened ticket #\d+ "
    r"for a technician, who will contact you\.$"
)


@pytest.fixture(params=["slapd", "samba_ad"])
def server(request: pytest.FixtureRequest) -> DirectoryServer:
    return request.getfixturevalue(request.param)


@pytest.fixture
def people(server: DirectoryServer) -> dict[str, TestUser]:
    manager = server.create_user(name="Maria Manager", title="Head of Sales")
    employee = server.create_user(
        name="Eve Employee",
        recovery_email="eve.private@example.net",
        manager=manager.dn,
        title="Account Executive",
        department="Sales",
    )
    return {"manager": manager, "employee": employee}


@pytest.fixture
def harness(server: DirectoryServer, sqlite_url: str, smtp_server: Mailbox) -> Iterator[Harness]:
    directory = LdapDirectory(server.config())
    bot, _ = build_bot(
        sqlite_url,
        directory=directory,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        reset_verification="email_code",
    )
    yield Harness(bot)


def secret_of(replies: list[Reply], who: str) -> str:
    found = [r.secret for r in replies if r.to == who and r.secret]
    assert found, [r.text for r in replies]
    return str(found[0])


def code_for(mailbox: Mailbox, address: str, count: int = 1) -> str:
    message = mailbox.wait_for(address, count)[-1]
    found = re.search(r"\b(\d{6})\b", message.get_payload())
    assert found
    return found.group(1)


def assert_must_change(server: DirectoryServer, user: TestUser, password: str) -> None:
    if server.flavor == "ad":
        outcome = server.try_bind(user.dn, password)
        assert not outcome.ok and outcome.code == 49 and "data 773" in outcome.message
    else:
        assert server.try_bind(user.dn, password).ok
        assert server.read(user.dn, ["pwdReset"])["pwdReset"] in (["TRUE"], [True], "TRUE", True)


def test_email_code_reset_sets_a_working_password_that_must_change(
    server, people, harness, smtp_server
) -> None:
    eve = people["employee"]
    asked = harness.say(eve.email, "I forgot my password")
    assert "e*" in asked[0].text
    password = secret_of(harness.say(eve.email, code_for(smtp_server, "eve.private@example.net")), eve.email)
    assert not server.try_bind(eve.dn, eve.password).ok  # the old password no longer works
    assert_must_change(server, eve, password)
    notice = smtp_server.wait_for(eve.email, 1)[-1]
    assert notice["Subject"] == "Your password was reset" and "If this wasn't you" in notice.get_payload()
    with harness.bot.sessions() as s:
        actions = [a.action for a in s.scalars(select(AuditRecord).order_by(AuditRecord.id))]
    assert actions == ["reset.requested", "reset.code_sent", "reset.verified", "reset.done"]


def test_no_change_without_verification_and_five_wrong_codes_stop(
    server, people, harness, smtp_server
) -> None:
    eve = people["employee"]
    harness.say(eve.email, "I forgot my password")
    right = code_for(smtp_server, "eve.private@example.net")
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    replies = [harness.say(eve.email, wrong) for _ in range(5)]
    assert "Too many wrong codes" in replies[-1][0].text
    assert not any(r.secret for r in harness.say(eve.email, right))
    assert server.try_bind(eve.dn, eve.password).ok  # untouched


def manager_harness(server: DirectoryServer, sqlite_url: str) -> Harness:
    bot, _ = build_bot(
        sqlite_url, directory=LdapDirectory(server.config()), reset_verification="manager_approval"
    )
    return Harness(bot)


def test_manager_approval_through_the_bot(server, people, sqlite_url) -> None:
    eve, maria = people["employee"], people["manager"]
    h = manager_harness(server, sqlite_url)
    approve = h.button(h.say(eve.email, "I forgot my password"), "Approve")
    assert "only the person's manager" in h.press(eve.email, approve)[0].text
    password = secret_of(h.press(maria.email, approve), eve.email)
    assert_must_change(server, eve, password)
    with h.bot.sessions() as s:
        rows = list(s.scalars(select(AuditRecord)))
    assert {row.target for row in rows} == {eve.email}  # the owner, also for the manager's steps
    assert ("reset.done", maria.email) in {(row.action, row.actor) for row in rows}
    with h.bot.sessions() as s:
        assert s.scalars(select(ResetRequest)).one().account_id == eve.dn


def test_cancel_then_approval_does_nothing(server, people, sqlite_url) -> None:
    eve, maria = people["employee"], people["manager"]
    h = manager_harness(server, sqlite_url)
    approve = h.button(h.say(eve.email, "I forgot my password"), "Approve")
    h.say(eve.email, "cancel")
    assert "already handled (cancelled)" in h.press(maria.email, approve)[0].text
    assert server.try_bind(eve.dn, eve.password).ok


def test_expired_code_changes_nothing(server, people, harness, smtp_server, frozen_clock) -> None:
    eve = people["employee"]
    start = datetime.now(UTC)
    frozen_clock(start)
    harness.say(eve.email, "I forgot my password")
    code = code_for(smtp_server, "eve.private@example.net")
    frozen_clock(start + timedelta(minutes=11))
    replies = harness.say(eve.email, code)
    assert "expired" in replies[0].text and not any(r.secret for r in replies)
    assert server.try_bind(eve.dn, eve.password).ok


def test_a_used_code_is_worthless_in_the_next_request(server, people, harness, smtp_server) -> None:
    eve = people["employee"]
    harness.say(eve.email, "I forgot my password")
    code = code_for(smtp_server, "eve.private@example.net")
    password = secret_of(harness.say(eve.email, code), eve.email)
    harness.say(eve.email, "I forgot my password")
    code_for(smtp_server, "eve.private@example.net", 2)
    again = harness.say(eve.email, code)
    assert not any(r.secret for r in again) and "isn't right" in again[0].text
    assert_must_change(server, eve, password)  # still the first reset's password: nothing changed


@pytest.mark.parametrize(
    "ask", ["reset {name}'s password", "unlock {name}", "reset the password for {email}"]
)
def test_someone_elses_account_is_never_touched(server, people, sqlite_url, ask: str) -> None:
    eve, maria = people["employee"], people["manager"]
    server.lock_out(maria.dn)
    bot, _ = build_bot(
        sqlite_url, directory=LdapDirectory(server.config()), reset_verification="chat_identity"
    )
    replies = Harness(bot).say(eve.email, ask.format(name=maria.username, email=maria.email))
    assert "your own account" in replies[0].text and not any(r.secret for r in replies)
    assert server.try_bind(eve.dn, eve.password).ok
    assert not server.try_bind(maria.dn, maria.password).ok  # still locked: not unlocked for Eve


def test_a_retried_event_resets_once(server, people, harness, smtp_server) -> None:
    eve = people["employee"]
    harness.say(eve.email, "I forgot my password")
    code = code_for(smtp_server, "eve.private@example.net")
    password = secret_of(harness.say(eve.email, code, event_id="evt-code-1"), eve.email)
    assert harness.say(eve.email, code, event_id="evt-code-1") == []
    assert_must_change(server, eve, password)  # a second reset would have made it worthless
    assert len(smtp_server.wait_for(eve.email, 1)) == 1  # one "your password was reset" notice


def test_a_half_done_reset_hands_the_password_over_and_opens_a_ticket(fresh_slapd, sqlite_url) -> None:
    """slapd where the bot may set the password but not pwdReset: the second step of the reset fails."""
    eve = fresh_slapd.create_user(name="Eve Half")
    fresh_slapd.revoke_bot_write("pwdReset")
    bot, _ = build_bot(
        sqlite_url, directory=LdapDirectory(fresh_slapd.config()), reset_verification="chat_identity"
    )
    replies = Harness(bot).say(eve.email, "I forgot my password")
    password = secret_of(replies, eve.email)
    assert fresh_slapd.try_bind(eve.dn, password).ok  # it WAS changed…
    assert not fresh_slapd.read(eve.dn, ["pwdReset"]).get("pwdReset")  # …without "must change"
    mine = [r for r in replies if r.to == eve.email]
    assert "may not be asked to choose a new password" in mine[0].text
    assert "nothing was changed" not in " ".join(r.text for r in mine)
    ticket = next(r.ticket for r in mine if r.ticket)
    with bot.sessions() as s:
        assert "pwdReset" in s.get(Ticket, ticket).transcript
        assert s.scalars(select(ResetRequest)).one().status == "partial"


def test_unlock_without_touching_the_password(server, people, harness) -> None:
    eve = people["employee"]
    server.lock_out(eve.dn)
    assert not server.try_bind(eve.dn, eve.password).ok
    done = harness.say(eve.email, "I'm locked out of my account")
    assert "unlocked" in done[0].text
    assert server.try_bind(eve.dn, eve.password).ok
    again = harness.say(eve.email, "I'm locked out of my account")
    assert "isn't locked" in again[0].text


def test_protected_and_disabled_accounts_are_refused_in_the_same_words(server, harness, smtp_server) -> None:
    if server.flavor == "ad":
        admin = server.create_user(
            name="Ivan Admin", recovery_email="ivan@example.net", groups=["Domain Admins"]
        )
        harness.bot.services.directory = LdapDirectory(server.config())
    else:
        admins = server.create_group("admins")
        admin = server.create_user(name="Ivan Admin", recovery_email="ivan@example.net", groups=[admins])
        harness.bot.services.directory = LdapDirectory(server.config(protected_groups=(admins,)))
    disabled = server.create_user(name="Dora Disabled", recovery_email="dora@example.net")
    server.disable_user(disabled.dn)
    texts = [harness.say(who.email, "I forgot my password")[-1].text for who in (admin, disabled)]
    texts.append(harness.say("nobody@example.org", "I forgot my password")[-1].text)
    assert all(REFUSAL.match(text) for text in texts), texts
    assert smtp_server.to("ivan@example.net") == [] and smtp_server.to("dora@example.net") == []
    assert server.try_bind(admin.dn, admin.password).ok  # the admin's password was not touched
    with harness.bot.sessions() as s:
        assert {t.category for t in s.scalars(select(Ticket))} == {"reset"}


def test_filter_injection_as_an_identity_matches_nobody(server, people, sqlite_url) -> None:
    """Hostile chat identities that WOULD select exactly Eve if put into a filter unescaped; with
    chat_identity verification, being mistaken for Eve would reset her password at once."""
    eve = people["employee"]
    local = eve.email.split("@")[0]
    name_attribute = "sAMAccountName" if server.flavor == "ad" else "uid"
    hostile = [f"{local}*", f"*{eve.email[2:]}", f"*)({name_attribute}={eve.username}"]
    person_filter = server.config().person_filter
    for value in hostile:  # control: each one is a real threat
        assert server.count_matches(f"(&{person_filter}(mail={value}))") == 1, value
    bot, _ = build_bot(
        sqlite_url, directory=LdapDirectory(server.config()), reset_verification="chat_identity"
    )
    for value in hostile:
        replies = bot.handle(Inbound(Person("test", "U1", value), text="I forgot my password"))
        assert not any(r.secret for r in replies) and REFUSAL.match(replies[-1].text), replies[-1].text
    assert server.try_bind(eve.dn, eve.password).ok


def test_restart_between_code_and_confirmation_resumes(server, people, sqlite_url, smtp_server) -> None:
    eve = people["employee"]
    settings = {"smtp_host": smtp_server.host, "smtp_port": smtp_server.port}
    first, _ = build_bot(sqlite_url, directory=LdapDirectory(server.config()), **settings)
    Harness(first).say(eve.email, "I forgot my password")
    code = code_for(smtp_server, "eve.private@example.net")
    restarted, _ = build_bot(sqlite_url, directory=LdapDirectory(server.config()), **settings)
    password = secret_of(Harness(restarted).say(eve.email, code), eve.email)
    assert_must_change(server, eve, password)


def test_the_secret_is_in_no_row_no_email_and_no_log_line(
    server, people, harness, smtp_server, monkeypatch
) -> None:
    """Two resets through the bot, the second followed by a failure that is logged with its traceback
    while the password is still a local of a frame on the stack."""
    stream = io.StringIO()
    logs.configure_logging("DEBUG", "json", stream=stream)
    eve = people["employee"]
    harness.say(eve.email, "I forgot my password")
    first = secret_of(harness.say(eve.email, code_for(smtp_server, "eve.private@example.net")), eve.email)
    assert smtp_server.wait_for(eve.email, 1)  # the notice went out: scanning the mailbox means something

    def notify_fails(*_: object) -> None:
        raise RuntimeError("mail queue full")

    monkeypatch.setattr(account.act, "_notify_owner", notify_fails)
    harness.say(eve.email, "I forgot my password")
    second = secret_of(harness.say(eve.email, code_for(smtp_server, "eve.private@example.net", 2)), eve.email)
    assert_must_change(server, eve, second)
    text = stream.getvalue()
    assert "mail queue full" in text and "audit_not_recorded" in text  # the failure was logged
    for password in (first, second):
        assert_secret_nowhere(harness.bot, password, smtp_server, text)


def test_directory_down_mid_conversation_becomes_a_ticket(fresh_slapd, sqlite_url) -> None:
    eve = fresh_slapd.create_user(name="Eve Down")
    bot, _ = build_bot(
        sqlite_url, directory=LdapDirectory(fresh_slapd.config()), reset_verification="chat_identity"
    )
    fresh_slapd.stop()
    replies = Harness(bot).say(eve.email, "I forgot my password")
    mine = next(r for r in replies if r.to == eve.email)
    assert "can't reach the company directory" in mine.text and mine.ticket
    assert any(r.to == "#triage" for r in replies)
