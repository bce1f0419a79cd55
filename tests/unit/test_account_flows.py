"""Password reset and unlock on the demo directory: verification, refusals, limits, idempotency, audit,
"commit, then act", partial writes and secrets. (The same flows against real slapd and Samba AD are in
tests/integration/test_account_ldap.py.)"""

from __future__ import annotations

import copy
import hashlib
import hmac
import io
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, inspect, select
from sqlalchemy.exc import OperationalError

from automations.demo_directory import DemoDirectory
from automations.directory import DirectoryUnavailable, PartiallyApplied
from bot import logs
from bot.messages import Reply
from bot.store.models import AuditRecord, Base, ResetRequest, ServerKey, Ticket
from handlers import account, registry
from tests.conftest import DIRECTORY, Harness, build_bot
from tests.servers.smtp import Mailbox
from tests.servers.support import free_port

ADA, BOB, GRACE, RITA, DAN, TESS = (
    f"{n}@example.com" for n in ("ada", "bob", "grace", "rita", "dan", "tess")
)
ADA_RECOVERY = "ada.home@example.net"
REFUSAL = (
    "I can't reset the password of this account automatically, so "
    "I've opened ticket #N for a technician, who will contact you."
)


def secret_of(replies: list[Reply], who: str) -> str | None:
    return next((r.secret for r in replies if r.to == who and r.secret), None)


def code_from(mailbox: Mailbox, address: str, count: int = 1) -> str:
    message = mailbox.wait_for(address, count)[-1]
    found = re.search(r"\b(\d{6})\b", message.get_payload())
    assert found, message.get_payload()
    return found.group(1)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def directory_account(bot, email: str):
    return demo_of(bot)._accounts[email]


def demo_of(bot) -> DemoDirectory:
    directory = bot.services.directory
    return directory if isinstance(directory, DemoDirectory) else directory.inner


@pytest.fixture
def email_bot(sqlite_url: str, smtp_server: Mailbox):
    bot, _ = build_bot(
        sqlite_url, smtp_host=smtp_server.host, smtp_port=smtp_server.port, reset_verification="email_code"
    )
    return Harness(bot), smtp_server


def manager_bot(sqlite_url: str, **settings: Any) -> Harness:
    bot, _ = build_bot(sqlite_url, reset_verification="manager_approval", **settings)
    return Harness(bot)


def audit_rows(h: Harness) -> list[AuditRecord]:
    with h.bot.sessions() as s:
        return list(s.scalars(select(AuditRecord).order_by(AuditRecord.id)))


def audit_actions(h: Harness) -> list[str]:
    return [a.action for a in audit_rows(h)]


def requests(h: Harness) -> list[ResetRequest]:
    with h.bot.sessions() as s:
        return list(s.scalars(select(ResetRequest).order_by(ResetRequest.id)))


class Wrapped:
    """The demo directory behind a seam: tests override one operation to make it fail or observe it."""

    def __init__(self, inner: DemoDirectory) -> None:
        self.inner, self.name = inner, "wrapped"

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def wrapped_bot(sqlite_url: str, wrapper: type[Wrapped], **settings: Any):
    directory = wrapper(DemoDirectory.from_document(copy.deepcopy(DIRECTORY)))
    bot, _ = build_bot(sqlite_url, directory=directory, **settings)
    return Harness(bot), directory


# ---------------------------------------------------------------- the happy paths


def test_email_code_reset_end_to_end(email_bot) -> None:
    h, mailbox = email_bot
    asked = h.say(ADA, "I forgot my password")
    assert "a*" in asked[0].text and "@example.net" in asked[0].text  # masked recovery address
    code = code_from(mailbox, ADA_RECOVERY)
    done = h.say(ADA, code)
    password = secret_of(done, ADA)
    assert password and password in done[0].text and done[0].delete_after == 600
    account_ = directory_account(h.bot, ADA)
    assert account_.resets == 1 and account_.must_change
    notice = mailbox.wait_for(ADA, 1)[-1]
    assert "If this wasn't you" in notice.get_payload()
    assert audit_actions(h) == ["reset.requested", "reset.code_sent", "reset.verified", "reset.done"]
    assert [r.status for r in requests(h)] == ["done"]


def test_without_verification_nothing_changes(email_bot) -> None:
    h, _ = email_bot
    h.say(ADA, "reset my password please")
    h.say(ADA, "cancel")
    assert directory_account(h.bot, ADA).resets == 0


def test_manager_approval_path(sqlite_url: str) -> None:
    h = manager_bot(sqlite_url)
    asked = h.say(ADA, "I forgot my password")
    approve = h.button(Harness.to(asked, GRACE), "Approve")
    assert "asked your manager, Grace Hopper" in Harness.to(asked, ADA)[0].text
    assert "only the person's manager" in h.press(ADA, approve)[0].text  # never yourself
    assert "only the person's manager" in h.press(TESS, approve)[0].text  # nor a bystander
    done = h.press(GRACE, approve)
    assert secret_of(done, ADA) and not secret_of(done, GRACE)
    assert "already handled" in h.press(GRACE, approve)[0].text  # a replayed click acts once
    assert directory_account(h.bot, ADA).resets == 1


def test_stale_approval_does_nothing(sqlite_url: str, frozen_clock) -> None:
    h = manager_bot(sqlite_url)
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    frozen_clock(start)
    approve = h.button(h.say(ADA, "I forgot my password"), "Approve")
    frozen_clock(start + timedelta(minutes=61))
    assert "expired" in h.press(GRACE, approve)[0].text
    assert directory_account(h.bot, ADA).resets == 0


def test_no_recovery_address_falls_back_to_manager(email_bot) -> None:
    h, _ = email_bot
    replies = h.say(BOB, "I forgot my password")  # Bob has a manager but no recovery address
    assert any(r.to == GRACE and "Approve" in [b.label for b in r.buttons] for r in replies)


def test_unlock_when_locked_and_when_not(sqlite_url: str) -> None:
    bot, _ = build_bot(sqlite_url)  # unlock verification defaults to chat_identity
    h = Harness(bot)
    done = h.say(BOB, "I'm locked out of my account")
    assert "unlocked" in done[0].text and not directory_account(bot, BOB).locked
    assert directory_account(bot, BOB).resets == 0  # the password was not touched
    again = h.say(BOB, "my account is locked, unlock it")
    assert "isn't locked" in again[0].text and "Reset my password" in [b.label for b in again[0].buttons]
    assert "unlock.done" in audit_actions(h)


def test_guests_are_refused(sqlite_url: str) -> None:
    from bot.messages import Inbound, Person

    bot, _ = build_bot(sqlite_url, reset_verification="chat_identity")
    replies = bot.handle(Inbound(Person("slack", "U1", ADA, is_guest=True), text="I forgot my password"))
    assert "guest" in replies[0].text and directory_account(bot, ADA).resets == 0


# ---------------------------------------------------------------- codes


def test_five_wrong_codes_stop_the_flow(email_bot) -> None:
    h, mailbox = email_bot
    h.say(ADA, "I forgot my password")
    right = code_from(mailbox, ADA_RECOVERY)
    answers = [h.say(ADA, wrong(right))[0].text for _ in range(5)]
    assert "4 tries left" in answers[0] and "Too many wrong codes" in answers[-1]
    after = h.say(ADA, right)
    assert secret_of(after, ADA) is None
    assert directory_account(h.bot, ADA).resets == 0


def test_expired_code_fails(email_bot, frozen_clock) -> None:
    h, mailbox = email_bot
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    frozen_clock(start)
    h.say(ADA, "I forgot my password")
    code = code_from(mailbox, ADA_RECOVERY)
    frozen_clock(start + timedelta(minutes=11))
    replies = h.say(ADA, code)
    assert "expired" in replies[0].text and secret_of(replies, ADA) is None


def test_new_code_voids_the_old_one_and_codes_are_single_use(email_bot) -> None:
    h, mailbox = email_bot
    h.say(ADA, "I forgot my password")
    old = code_from(mailbox, ADA_RECOVERY, 1)
    h.press(ADA, "account.new_code")
    new = code_from(mailbox, ADA_RECOVERY, 2)
    if old != new:
        assert "isn't right" in h.say(ADA, old)[0].text
    assert secret_of(h.say(ADA, new), ADA)
    # a second request: the first request's code is worthless now
    h.say(ADA, "I forgot my password again")
    assert "isn't right" in h.say(ADA, new)[0].text or code_from(mailbox, ADA_RECOVERY, 3) == new


def test_restart_between_code_and_confirmation_resumes(sqlite_url: str, smtp_server: Mailbox) -> None:
    settings = {"smtp_host": smtp_server.host, "smtp_port": smtp_server.port}
    first, _ = build_bot(sqlite_url, **settings)
    Harness(first).say(ADA, "I forgot my password")
    code = code_from(smtp_server, ADA_RECOVERY)
    restarted, _ = build_bot(sqlite_url, **settings)
    restarted.services.directory = first.services.directory  # same directory server, new bot process
    assert secret_of(Harness(restarted).say(ADA, code), ADA)


def test_code_hashes_are_keyed_with_a_stored_server_key(email_bot) -> None:
    h, mailbox = email_bot
    h.say(ADA, "I forgot my password")
    code = code_from(mailbox, ADA_RECOVERY)
    with h.bot.sessions() as s:
        request = s.scalars(select(ResetRequest)).one()
        key = s.get(ServerKey, account.CODE_KEY_NAME)
        assert key is not None and len(key.value) == 64
        message = f"{request.correlation_id}:{code}".encode()
        assert request.code_hash != hashlib.sha256(message).hexdigest()  # not guessable without the key
        assert request.code_hash == hmac.new(bytes.fromhex(key.value), message, hashlib.sha256).hexdigest()


def test_a_configured_secret_key_is_used_and_must_match_after_a_restart(
    sqlite_url: str, smtp_server: Mailbox
) -> None:
    settings = {"smtp_host": smtp_server.host, "smtp_port": smtp_server.port}
    first, _ = build_bot(sqlite_url, secret_key="k" * 32, **settings)
    Harness(first).say(ADA, "I forgot my password")
    code = code_from(smtp_server, ADA_RECOVERY)
    with first.sessions() as s:
        assert s.get(ServerKey, account.CODE_KEY_NAME) is None  # nothing generated, nothing stored
    other_key, _ = build_bot(sqlite_url, secret_key="z" * 32, **settings)
    other_key.services.directory = first.services.directory
    assert "isn't right" in Harness(other_key).say(ADA, code)[0].text
    same_key, _ = build_bot(sqlite_url, secret_key="k" * 32, **settings)
    same_key.services.directory = first.services.directory
    assert secret_of(Harness(same_key).say(ADA, code), ADA)


def test_retried_code_message_resets_once(email_bot) -> None:
    h, mailbox = email_bot
    h.say(ADA, "I forgot my password")
    code = code_from(mailbox, ADA_RECOVERY)
    assert secret_of(h.say(ADA, code, event_id="slack-evt-9"), ADA)
    assert h.say(ADA, code, event_id="slack-evt-9") == []
    assert directory_account(h.bot, ADA).resets == 1


def test_code_email_that_cannot_be_sent_falls_back_to_the_manager(sqlite_url: str) -> None:
    bot, _ = build_bot(sqlite_url, smtp_host="127.0.0.1", smtp_port=free_port(), smtp_timeout_seconds=2)
    h = Harness(bot)
    replies = h.say(ADA, "I forgot my password")
    mine = Harness.to(replies, ADA)
    assert len(mine) == 1 and "emailed" not in mine[0].text
    assert "couldn't email you a verification code" in mine[0].text and "Grace Hopper" in mine[0].text
    approve = h.button(Harness.to(replies, GRACE), "Approve")
    (request,) = requests(h)
    assert request.method == "manager_approval" and request.code_hash == ""
    assert "reset.code_not_sent" in audit_actions(h)
    assert secret_of(h.press(GRACE, approve), ADA)


def test_code_email_failure_without_a_manager_opens_a_ticket(sqlite_url: str) -> None:
    document = copy.deepcopy(DIRECTORY)
    document["people"].append(
        {"email": "solo@example.com", "name": "Solo Person", "recovery_email": "solo@example.net"}
    )
    bot, _ = build_bot(
        sqlite_url,
        directory=DemoDirectory.from_document(document),
        smtp_host="127.0.0.1",
        smtp_port=free_port(),
        smtp_timeout_seconds=2,
    )
    replies = Harness(bot).say("solo@example.com", "I forgot my password")
    mine = Harness.to(replies, "solo@example.com")
    assert len(mine) == 1 and re.sub(r"#\d+", "#N", mine[0].text) == REFUSAL and mine[0].ticket


# ---------------------------------------------------------------- commit, then act


def test_the_directory_is_written_only_after_the_event_has_committed(sqlite_url: str) -> None:
    seen: list[tuple[str, bool]] = []

    class Observing(Wrapped):
        def reset_password(self, person, new_password, *, must_change=True):
            # Another connection, reading only (the bot's own sessions begin by taking the write lock,
            # which this writing transaction holds): it sees only what is committed.
            with closing(sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))) as reader:
                (status,) = reader.execute("SELECT status FROM reset_requests").fetchone()
                event_id = reader.execute("SELECT 1 FROM processed_events WHERE event_id = 'evt-approve'")
                seen.append((str(status), event_id.fetchone() is not None))
            self.inner.reset_password(person, new_password, must_change=must_change)

    h, _ = wrapped_bot(sqlite_url, Observing, reset_verification="manager_approval")
    approve = h.button(h.say(ADA, "I forgot my password"), "Approve")
    assert secret_of(h.press(GRACE, approve, event_id="evt-approve"), ADA)
    assert seen == [("executing", True)]  # claimed and committed, with the event, before the write


def test_a_failed_record_after_the_reset_still_delivers_the_password_and_a_retry_does_not_reset(
    sqlite_url: str,
) -> None:
    armed: list[bool] = []

    class ThenTheDatabaseFails(Wrapped):
        def reset_password(self, person, new_password, *, must_change=True):
            self.inner.reset_password(person, new_password, must_change=must_change)
            armed.append(True)

    def fail_commit(session) -> None:
        if armed:
            armed.clear()
            raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    h, directory = wrapped_bot(sqlite_url, ThenTheDatabaseFails, reset_verification="manager_approval")
    stream = io.StringIO()
    logs.configure_logging("INFO", "json", stream=stream)
    approve = h.button(h.say(ADA, "I forgot my password"), "Approve")
    event.listen(h.bot.sessions, "before_commit", fail_commit)
    try:
        done = h.press(GRACE, approve, event_id="evt-1")
    finally:
        event.remove(h.bot.sessions, "before_commit", fail_commit)
    password = secret_of(done, ADA)
    assert password, [r.text for r in done]  # the change happened: the person gets the password
    assert "nothing was changed" not in " ".join(r.text for r in done)
    assert '"audit_not_recorded"' in stream.getvalue() and '"reset.done"' in stream.getvalue()
    assert password not in stream.getvalue()
    assert h.press(GRACE, approve, event_id="evt-1") == []  # the retried delivery is recognised
    assert "already handled" in h.press(GRACE, approve)[0].text  # a new click finds it taken
    assert directory.inner._accounts[ADA].resets == 1


def test_two_runners_of_the_same_verified_request_reset_once(sqlite_url: str) -> None:
    h = manager_bot(sqlite_url)
    approve = h.button(h.say(ADA, "I forgot my password"), "Approve")
    correlation = approve.split(":", 1)[1]
    with h.bot.sessions.begin() as s:  # verified and committed, its effect not yet run
        s.scalars(select(ResetRequest)).one().status = "verified"
    from bot.messages import Inbound, Person
    from handlers import people

    inbound = Inbound(Person("test", GRACE, GRACE), action=approve)
    speaker = people.identify(h.bot.services, inbound.person)
    replies = h.bot._run_effects(inbound, speaker, [account._Claim(correlation), account._Claim(correlation)])
    assert len([r for r in replies if r.secret]) == 1
    assert directory_account(h.bot, ADA).resets == 1


def test_a_request_left_executing_is_reported_never_rerun(sqlite_url: str, frozen_clock) -> None:
    class Crashing(Wrapped):
        def reset_password(self, person, new_password, *, must_change=True):
            raise KeyboardInterrupt  # the process dies mid-way: nothing after this runs

    h, directory = wrapped_bot(sqlite_url, Crashing, reset_verification="chat_identity")
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    frozen_clock(start)
    with pytest.raises(KeyboardInterrupt):
        h.say(ADA, "I forgot my password")
    assert [r.status for r in requests(h)] == ["executing"]
    assert "still finishing" in h.say(ADA, "I forgot my password")[0].text
    frozen_clock(start + timedelta(minutes=5))
    replies = h.say(ADA, "I forgot my password")
    mine = Harness.to(replies, ADA)[0]
    assert "can't tell whether it changed your account" in mine.text and mine.ticket
    assert [r.status for r in requests(h)] == ["interrupted"]
    assert directory.inner._accounts[ADA].resets == 0
    assert "reset.interrupted" in audit_actions(h)


# ---------------------------------------------------------------- cancelling and replacing requests


def test_cancel_then_approval_does_nothing(sqlite_url: str) -> None:
    h = manager_bot(sqlite_url)
    approve = h.button(h.say(ADA, "I forgot my password"), "Approve")
    assert h.say(ADA, "cancel")[0].text == "Cancelled; nothing was changed."  # as the Cancel button says
    assert "already handled (cancelled)" in h.press(GRACE, approve)[0].text
    assert directory_account(h.bot, ADA).resets == 0
    cancelled = [a for a in audit_rows(h) if a.action == "reset.cancelled"]
    assert [(a.result, a.actor, a.target) for a in cancelled] == [("cancelled", ADA, ADA)]


def test_cancel_pressed_after_the_approval_says_the_reset_goes_ahead(sqlite_url: str) -> None:
    h = manager_bot(sqlite_url)
    asked = h.say(ADA, "I forgot my password")
    cancel = h.button(Harness.to(asked, ADA), "Cancel")
    assert secret_of(h.press(GRACE, h.button(asked, "Approve")), ADA)
    late = h.press(ADA, cancel)
    assert [r.text for r in late] == [
        "Too late to stop it: the password reset was already approved, so it is going ahead."
    ]


@registry.action("test.other_flow")
def _start_other_flow(ctx, _: str) -> None:
    """Stands for any other flow's button (a ticket, a rating…): it replaces the person's flow."""
    ctx.state.start("test.other", "step")
    ctx.reply("other flow")


def test_starting_another_flow_cancels_the_pending_request(sqlite_url: str) -> None:
    h = manager_bot(sqlite_url)
    approve = h.button(h.say(ADA, "I forgot my password"), "Approve")
    h.press(ADA, "test.other_flow")
    assert "already handled (cancelled)" in h.press(GRACE, approve)[0].text
    assert directory_account(h.bot, ADA).resets == 0


def test_a_new_request_voids_the_earlier_one(sqlite_url: str) -> None:
    h = manager_bot(sqlite_url)
    first = h.button(h.say(ADA, "I forgot my password"), "Approve")
    second = h.button(h.press(ADA, "account.reset"), "Approve")
    assert first != second
    assert "already handled (cancelled)" in h.press(GRACE, first)[0].text
    assert secret_of(h.press(GRACE, second), ADA)
    assert directory_account(h.bot, ADA).resets == 1
    assert [a.result for a in audit_rows(h) if a.action == "reset.voided"] == ["superseded"]


def test_the_daily_limit_is_checked_again_when_the_reset_runs(sqlite_url: str) -> None:
    h = manager_bot(sqlite_url, resets_per_day=1)
    approve = h.button(h.say(ADA, "I forgot my password"), "Approve")
    with h.bot.sessions.begin() as s:  # meanwhile another instance completed a reset for Ada
        done = ResetRequest(
            correlation_id="elsewhere", person_email=ADA, kind="reset", method="chat_identity"
        )
        done.status, done.created_at, done.updated_at = "done", datetime.now(UTC), datetime.now(UTC)
        s.add(done)
    replies = h.press(GRACE, approve)
    assert not secret_of(replies, ADA)
    assert "limit of 1 password resets" in Harness.to(replies, ADA)[0].text
    assert directory_account(h.bot, ADA).resets == 0


# ---------------------------------------------------------------- limits


def test_reset_limit_per_day(sqlite_url: str) -> None:
    bot, _ = build_bot(sqlite_url, reset_verification="chat_identity", resets_per_day=2)
    h = Harness(bot)
    assert secret_of(h.say(ADA, "I forgot my password"), ADA)
    assert secret_of(h.say(ADA, "I forgot my password"), ADA)
    assert "limit of 2 password resets" in h.say(ADA, "I forgot my password")[0].text


def test_requests_are_limited_per_day_whatever_became_of_them(email_bot) -> None:
    h, mailbox = email_bot
    h.bot.services.settings.account_requests_per_day = 3
    for _ in range(3):
        h.say(ADA, "I forgot my password")
        h.say(ADA, "cancel")
    limited = h.say(ADA, "I forgot my password")[0].text
    assert "limit of 3 password reset and unlock requests" in limited
    assert len(mailbox.to(ADA_RECOVERY)) == 3  # the fourth request emailed nothing
    assert "limit of 3" in h.say(ADA, "I'm locked out")[0].text  # unlocks count and are limited too


def test_wrong_codes_are_capped_across_requests(email_bot) -> None:
    h, mailbox = email_bot
    h.bot.services.settings.code_failures_per_day = 4
    h.say(ADA, "I forgot my password")
    first = code_from(mailbox, ADA_RECOVERY, 1)
    for _ in range(2):
        h.say(ADA, wrong(first))
    h.say(ADA, "cancel")
    h.say(ADA, "I forgot my password")
    second = code_from(mailbox, ADA_RECOVERY, 2)
    assert "tries left" in h.say(ADA, wrong(second))[0].text
    assert "Too many wrong codes" in h.say(ADA, wrong(second))[0].text  # 4 in 24 h, over two requests
    assert "too many wrong verification codes" in h.say(ADA, "I forgot my password")[0].text
    assert len(mailbox.to(ADA_RECOVERY)) == 2 and directory_account(h.bot, ADA).resets == 0


# ---------------------------------------------------------------- refusals and enumeration


class Counting(Wrapped):
    calls: list[str]

    def account_status(self, person):
        self.calls.append("account_status")
        return self.inner.account_status(person)

    def decoy_status_read(self):
        self.calls.append("decoy_status_read")


@pytest.mark.parametrize("who", [RITA, DAN, "nobody@example.com"])
def test_protected_disabled_and_unknown_accounts_get_the_same_words_and_a_ticket(
    sqlite_url: str, smtp_server: Mailbox, who: str
) -> None:
    h, directory = wrapped_bot(sqlite_url, Counting, smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    directory.calls = []
    replies = h.say(who, "I forgot my password")
    mine = Harness.to(replies, who)
    assert len(mine) == 1 and re.sub(r"#\d+", "#N", mine[0].text) == REFUSAL and mine[0].buttons == ()
    assert smtp_server.to("rita@example.net") == [] and smtp_server.to("dan@example.net") == []
    assert len(directory.calls) == 1  # one status read each, a decoy one for the unknown: similar cost
    with h.bot.sessions() as s:
        ticket = s.get(Ticket, mine[0].ticket)
        assert ticket.urgent and ticket.category == "reset" and "Bot stopped because" in ticket.transcript
        assert [r.status for r in s.scalars(select(ResetRequest))] == ["refused"]  # before any verification
    assert directory_account(h.bot, RITA).resets == 0 and directory_account(h.bot, DAN).resets == 0


def test_limit_replies_do_not_tell_known_from_unknown(sqlite_url: str) -> None:
    h = Harness(build_bot(sqlite_url, account_requests_per_day=1)[0])
    texts = []
    for who in (RITA, "nobody@example.com"):
        h.say(who, "I forgot my password")
        texts.append(h.say(who, "I forgot my password")[0].text)
    assert texts[0] == texts[1] and "limit of 1" in texts[0]


@pytest.mark.parametrize(
    "text",
    [
        "reset bob's password",
        "please reset my manager's password",
        "unlock jsmith",
        "can you unlock user bob",
        "reset the password for bob@example.com",
        "reset the password for bob",
        "reset the password of bob.marley",
    ],
)
def test_someone_elses_account_is_never_touched(sqlite_url: str, text: str) -> None:
    h = Harness(build_bot(sqlite_url, reset_verification="chat_identity")[0])
    replies = h.say(ADA, text)
    assert "your own account" in replies[0].text and not secret_of(replies, ADA)
    assert directory_account(h.bot, ADA).resets == 0 and directory_account(h.bot, BOB).resets == 0
    assert directory_account(h.bot, BOB).locked  # Bob's locked account was not unlocked either


@pytest.mark.parametrize(
    "text",
    [
        "I forgot my password",
        "reset my password please",
        "Ada's password needs a reset",
        "reset the password for ada@example.com",
        "reset the password for my account",
        "I forgot my password for outlook",
    ],
)
def test_asking_for_your_own_account_in_other_words_still_works(sqlite_url: str, text: str) -> None:
    h = Harness(build_bot(sqlite_url, reset_verification="chat_identity")[0])
    assert secret_of(h.say(ADA, text), ADA)


def test_directory_down_gets_a_clear_message_and_a_ticket(sqlite_url: str) -> None:
    class Down(Wrapped):
        def account_status(self, person):
            raise DirectoryUnavailable("connection refused")

    h, _ = wrapped_bot(sqlite_url, Down, reset_verification="chat_identity")
    mine = Harness.to(h.say(ADA, "I forgot my password"), ADA)[0]
    assert "can't reach the company directory" in mine.text and mine.ticket
    with h.bot.sessions() as s:
        assert "directory unavailable" in s.get(Ticket, mine.ticket).transcript


# ---------------------------------------------------------------- the owner at execution time


def test_owner_gone_by_approval_time_fails_with_a_ticket_and_tells_both(sqlite_url: str) -> None:
    h = manager_bot(sqlite_url)
    approve = h.button(h.say(ADA, "I forgot my password"), "Approve")
    demo_of(h.bot)._people.pop(ADA)  # left the company in the meantime
    replies = h.press(GRACE, approve)
    to_ada, to_grace = Harness.to(replies, ADA), Harness.to(replies, GRACE)
    assert to_ada and to_ada[-1].ticket and "nothing was changed" in to_ada[-1].text
    assert any(r.ticket == to_ada[-1].ticket for r in to_grace)
    assert [r.status for r in requests(h)] == ["failed"]
    with h.bot.sessions() as s:
        assert s.get(Ticket, to_ada[-1].ticket).requester_email == ADA


def test_directory_down_at_approval_time_fails_with_a_ticket_and_tells_both(sqlite_url: str) -> None:
    down: list[bool] = []

    class SometimesDown(Wrapped):
        def get(self, person_id):
            if down:
                raise DirectoryUnavailable("connection refused")
            return self.inner.get(person_id)

    h, directory = wrapped_bot(sqlite_url, SometimesDown, reset_verification="manager_approval")
    approve = h.button(h.say(ADA, "I forgot my password"), "Approve")
    down.append(True)
    replies = h.press(GRACE, approve)
    to_ada = Harness.to(replies, ADA)
    assert to_ada and "couldn't reach the company directory" in to_ada[-1].text and to_ada[-1].ticket
    assert any("could not be done automatically" in r.text for r in Harness.to(replies, GRACE))
    assert directory.inner._accounts[ADA].resets == 0


def test_code_entered_while_the_directory_is_down_is_answered_not_burnt_silently(email_bot) -> None:
    h, mailbox = email_bot
    h.say(ADA, "I forgot my password")
    code = code_from(mailbox, ADA_RECOVERY)

    class AllDown(Wrapped):
        def find_by_email(self, email):
            raise DirectoryUnavailable("connection refused")

        def get(self, person_id):
            raise DirectoryUnavailable("connection refused")

    h.bot.services.directory = AllDown(h.bot.services.directory)
    replies = h.say(ADA, code)
    assert replies and "couldn't reach the company directory" in replies[-1].text and replies[-1].ticket
    assert [r.status for r in requests(h)] == ["failed"]


# ---------------------------------------------------------------- partial writes


@pytest.mark.parametrize(
    ("unfinished", "caveat", "fix"),
    [
        (("must_change",), "may not be asked to choose a new password", "must change password at next logon"),
        (("unlock",), "may still be locked", "unlock the account"),
    ],
)
def test_a_half_done_reset_delivers_the_password_and_opens_a_ticket(
    sqlite_url: str, unfinished: tuple[str, ...], caveat: str, fix: str
) -> None:
    class HalfDone(Wrapped):
        def reset_password(self, person, new_password, *, must_change=True):
            self.inner.reset_password(person, new_password, must_change=False)
            raise PartiallyApplied("the password was changed, but rc 50", unfinished=unfinished)

    h, directory = wrapped_bot(sqlite_url, HalfDone, reset_verification="chat_identity")
    replies = Harness.to(h.say(ADA, "I forgot my password"), ADA)
    password = secret_of(replies, ADA)
    assert password and caveat in replies[0].text and "nothing was changed" not in replies[0].text
    ticket_reply = next(r for r in replies if r.ticket)
    with h.bot.sessions() as s:
        ticket = s.get(Ticket, ticket_reply.ticket)
        assert fix in ticket.transcript and "WAS reset" in ticket.transcript
        assert password not in ticket.transcript + ticket.problem
    assert [r.status for r in requests(h)] == ["partial"]
    assert "reset.partial" in audit_actions(h) and directory.inner._accounts[ADA].resets == 1


# ---------------------------------------------------------------- audit and secrets


def test_audit_rows_of_the_approval_path_name_the_owner_as_target(sqlite_url: str) -> None:
    h = manager_bot(sqlite_url)
    h.press(GRACE, h.button(h.say(ADA, "I forgot my password"), "Approve"))
    rows = audit_rows(h)
    assert {row.target for row in rows} == {ADA}
    assert {(row.action, row.actor) for row in rows} >= {("reset.verified", GRACE), ("reset.done", GRACE)}


def test_audit_and_tickets_never_keep_what_the_person_typed(sqlite_url: str) -> None:
    h = Harness(build_bot(sqlite_url, reset_verification="chat_identity")[0])
    typed = "Hunter2-Secret!"
    h.say(ADA, f"reset the password for bob@example.com, mine was {typed}")
    h.say(RITA, f"I forgot my password, the old one was {typed}")
    with h.bot.sessions() as s:
        assert typed not in str([(a.action, a.detail) for a in s.scalars(select(AuditRecord))])
        assert all(typed not in t.transcript + t.problem for t in s.scalars(select(Ticket)))


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logs.configure_logging("DEBUG", "json", stream=stream)
    yield stream


def every_stored_value(bot) -> Iterator[tuple[str, object]]:
    engine = bot.sessions.kw["bind"]
    tables = set(inspect(engine).get_table_names())
    assert {table.name for table in Base.metadata.sorted_tables} <= tables
    with engine.connect() as connection:
        for table in sorted(tables):
            for row in connection.exec_driver_sql(f'SELECT * FROM "{table}"'):
                for value in row:
                    yield table, value


def assert_secret_nowhere(bot, secret: str, mailbox: Mailbox, log_text: str) -> None:
    assert [table for table, value in every_stored_value(bot) if secret in str(value)] == []
    assert [m["Subject"] for m in mailbox.messages if secret in m.as_string()] == []
    assert secret not in log_text


def test_the_secret_is_in_no_row_no_email_and_no_log_line(email_bot, json_logs) -> None:
    h, mailbox = email_bot
    h.say(ADA, "I forgot my password")
    password = secret_of(h.say(ADA, code_from(mailbox, ADA_RECOVERY)), ADA)
    assert password and mailbox.wait_for(ADA, 1)  # the notice went out: the mailbox scan means something
    assert_secret_nowhere(h.bot, password, mailbox, json_logs.getvalue())


def test_the_secret_stays_out_of_logs_when_a_failure_after_the_reset_is_logged(
    email_bot, json_logs, monkeypatch
) -> None:
    """A traceback logged while the password is a local of a frame on the stack (needs bot/logs.py not to
    render frame locals)."""
    h, mailbox = email_bot

    def notify_fails(*_: object) -> None:
        raise RuntimeError("mail queue full")

    monkeypatch.setattr(account.act, "_notify_owner", notify_fails)
    h.say(ADA, "I forgot my password")
    password = secret_of(h.say(ADA, code_from(mailbox, ADA_RECOVERY)), ADA)
    assert password, "the failure after the reset must not swallow the password"
    text = json_logs.getvalue()
    assert "mail queue full" in text and "audit_not_recorded" in text  # the failure was logged
    assert_secret_nowhere(h.bot, password, mailbox, text)


@pytest.mark.parametrize("key", ["password", "asked", "text"])
def test_audit_refuses_details_that_could_carry_a_secret_or_typed_words(sqlite_url: str, key: str) -> None:
    from handlers import audit

    bot, _ = build_bot(sqlite_url)
    with bot.sessions() as s, pytest.raises(ValueError, match=key):
        audit.record(
            s, actor=ADA, action="reset.refused", target=ADA, result="x", correlation_id="c", **{key: "v"}
        )


def test_the_delivered_password_is_scrubbed_for_its_ttl_then_forgotten(sqlite_url: str, frozen_clock) -> None:
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    frozen_clock(start)
    bot, _ = build_bot(sqlite_url, reset_verification="chat_identity", secret_ttl=300)
    secret = secret_of(Harness(bot).say(ADA, "I forgot my password"), ADA)
    assert secret and logs.redact_text(secret) == logs.REDACTED
    frozen_clock(start + timedelta(seconds=300) + logs.SECRET_MARGIN + timedelta(seconds=1))
    assert secret not in logs.live_secrets()
