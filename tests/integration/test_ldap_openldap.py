"""LdapDirectory against a real OpenLDAP slapd (ppolicy + memberof), started by the `slapd` fixture.

The bot binds as cn=helpdesk-bot with plain write on userPassword (not a ppolicy "password admin"), so
the server's policy applies to its resets, exactly as in production.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from ldap3 import SUBTREE
from ldap3.utils.log import EXTENDED, OFF, set_library_log_detail_level

from automations.directory import (
    AccountStatus,
    Directory,
    DirectoryPerson,
    DirectoryUnavailable,
    NotFound,
    NotLocked,
    NotPermitted,
    PartiallyApplied,
    PolicyViolation,
)
from automations.ldap import LdapDirectory, connection
from automations.passwords import generate_temporary_password
from tests.servers.directory import CapturedLogs, DirectoryServer

pytestmark = [pytest.mark.slapd]

INJECTIONS = ["*", "a)(|(uid=*", "\\", "\x00", "*)(mail=*", "*@example.org", "alice@example.org)(uid=*"]


@pytest.fixture
def protected_group(slapd: DirectoryServer) -> str:
    return f"cn=ldap-admins,{slapd.groups_dn}"


@pytest.fixture
def directory(slapd: DirectoryServer, protected_group: str) -> Iterator[LdapDirectory]:
    directory = LdapDirectory(slapd.config(base_dn=slapd.people_dn, protected_groups=(protected_group,)))
    yield directory
    directory.close()


def user_search_code(slapd: DirectoryServer, dn: str, password: str) -> int:
    """Result code of a search made AS the user (rc 50 while ppolicy's pwdReset is set)."""
    conn = slapd.connect(dn, password)
    try:
        assert conn.bind(), conn.result
        conn.search(slapd.people_dn, "(uid=alice)", SUBTREE, attributes=["cn"])
        return int(conn.result["result"])
    finally:
        conn.unbind()


# --- reading people --------------------------------------------------------------------------------------


def test_it_is_a_directory(directory: LdapDirectory) -> None:
    assert isinstance(directory, Directory)
    assert directory.name == "openldap"


def test_find_by_email_fills_every_field(slapd: DirectoryServer, directory: LdapDirectory) -> None:
    manager = slapd.create_user(name="Mona Manager")
    user = slapd.create_user(
        name="Rita Reader",
        title="Analyst",
        department="310",
        location="Porto",
        recovery_email="rita@private.example.net",
        manager=manager.dn,
        groups=["vpn-users", "finance"],
    )
    person = directory.find_by_email(user.email.upper())  # mail matching ignores case
    assert person == DirectoryPerson(
        id=user.dn,
        email=user.email,
        name="Rita Reader",
        title="Analyst",
        department="310",
        location="Porto",
        manager_email=manager.email,
        groups=("finance", "vpn-users"),
        recovery_email="rita@private.example.net",
        username=user.username,
    )
    assert directory.get(user.dn) == person


def test_location_falls_back_to_the_office_name(directory: LdapDirectory) -> None:
    carol = directory.find_by_email("carol@example.org")
    assert carol is not None and carol.location == "Hamburg HQ"


def test_filter_metacharacters_are_matched_literally(directory: LdapDirectory) -> None:
    dave = directory.find_by_email("dave.o*neil(ops)@example.org")
    assert dave is not None and dave.username == "dave"


@pytest.mark.parametrize("attack", INJECTIONS)
def test_filter_injection_finds_nobody(slapd: DirectoryServer, directory: LdapDirectory, attack: str) -> None:
    assert directory.find_by_email(attack) is None
    assert directory.group_members(attack) == []


def test_the_injection_strings_would_match_without_escaping(slapd: DirectoryServer) -> None:
    """Proves the test above can fail: unescaped, `*` matches everybody."""
    conn = slapd.admin()
    conn.search(slapd.people_dn, "(&(objectClass=inetOrgPerson)(mail=*))", attributes=["mail"])
    assert len(conn.response) > 3
    conn.unbind()


def test_two_people_with_one_email_match_nobody(
    slapd: DirectoryServer, directory: LdapDirectory, debug_logs: CapturedLogs
) -> None:
    first = slapd.create_user()
    slapd.create_user(email=first.email)
    assert directory.find_by_email(first.email) is None
    assert any(event["event"] == "directory_email_ambiguous" for event in debug_logs.events)


def test_unknown_and_foreign_ids_are_not_read(slapd: DirectoryServer, directory: LdapDirectory) -> None:
    assert directory.find_by_email("nobody@example.org") is None
    assert directory.get(f"uid=nobody,{slapd.people_dn}") is None
    assert directory.get(slapd.bot_dn) is None  # outside base_dn
    assert directory.get("not a dn") is None
    assert directory.account_status(DirectoryPerson(id=slapd.bot_dn, email="x@y", name="x")).exists is False


def test_people_outside_base_dn_are_neither_read_nor_written(slapd: DirectoryServer) -> None:
    user = slapd.create_user()  # a real person, but under ou=people
    elsewhere = LdapDirectory(slapd.config(base_dn=f"ou=services,{slapd.base_dn}"))
    person = DirectoryPerson(id=user.dn, email=user.email, name=user.name)
    try:
        assert elsewhere.find_by_email(user.email) is None
        assert elsewhere.get(user.dn) is None
        assert elsewhere.account_status(person).exists is False
        with pytest.raises(NotFound):
            elsewhere.reset_password(person, "Out-Of-Scope-Pass-8")
    finally:
        elsewhere.close()
    assert slapd.try_bind(user.dn, user.password).ok


def test_groups_by_name_and_dn(slapd: DirectoryServer, directory: LdapDirectory) -> None:
    user = slapd.create_user(groups=["vpn-users"])
    by_name = {person.email for person in directory.group_members("vpn-users")}
    by_dn = {person.email for person in directory.group_members(f"cn=vpn-users,{slapd.groups_dn}")}
    assert {"alice@example.org", "bob@example.org", user.email} <= by_name
    assert by_name == by_dn
    person = directory.find_by_email(user.email)
    assert person is not None
    assert directory.is_member(person, "vpn-users")
    assert not directory.is_member(person, "finance")
    assert directory.group_members("no-such-group") == []


def test_group_members_are_read_page_by_page(
    slapd: DirectoryServer, directory: LdapDirectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    everyone = {person.email for person in directory.group_members("vpn-users")}
    monkeypatch.setattr(connection, "PAGE_SIZE", 1)
    assert len(everyone) >= 2
    assert {person.email for person in directory.group_members("vpn-users")} == everyone


def test_nested_membership_is_followed(slapd: DirectoryServer, directory: LdapDirectory) -> None:
    user = slapd.create_user()
    inner = slapd.create_group(members=[user.dn])
    outer = slapd.create_group(members=[inner])
    person = directory.find_by_email(user.email)
    assert person is not None
    assert directory.is_member(person, outer)


# --- resets ----------------------------------------------------------------------------------------------


def test_reset_new_password_binds_and_old_fails(slapd: DirectoryServer, directory: LdapDirectory) -> None:
    user = slapd.create_user()
    person = directory.find_by_email(user.email)
    assert person is not None
    directory.reset_password(person, "Brand-New-Pass-42", must_change=False)
    assert slapd.try_bind(user.dn, "Brand-New-Pass-42").ok
    old = slapd.try_bind(user.dn, user.password)
    assert not old.ok and old.code == 49
    assert user_search_code(slapd, user.dn, "Brand-New-Pass-42") == 0
    assert slapd.read(user.dn, ["pwdReset"]).get("pwdReset") in (None, [])


def test_must_change_is_enforced_by_ppolicy(slapd: DirectoryServer, directory: LdapDirectory) -> None:
    user = slapd.create_user()
    person = directory.find_by_email(user.email)
    assert person is not None
    directory.reset_password(person, "Temp-Pass-For-Now-7")  # must_change defaults to True
    assert slapd.read(user.dn, ["pwdReset"])["pwdReset"] == ["TRUE"]
    assert slapd.try_bind(user.dn, "Temp-Pass-For-Now-7").ok  # may bind ...
    assert user_search_code(slapd, user.dn, "Temp-Pass-For-Now-7") == 50  # ... but do nothing else


def test_generated_password_meets_the_server_policy(slapd: DirectoryServer, directory: LdapDirectory) -> None:
    policy = directory.password_policy()
    assert (policy.min_length, policy.history) == (8, 3)
    user = slapd.create_user()
    person = directory.find_by_email(user.email)
    assert person is not None
    for _ in range(5):
        password = generate_temporary_password(policy, avoid=[person.username])
        directory.reset_password(person, password)
        assert slapd.try_bind(user.dn, password).ok


def test_policy_violations_are_typed_with_plain_reasons(
    slapd: DirectoryServer, directory: LdapDirectory
) -> None:
    user = slapd.create_user(password="Current-Pass-1")
    person = directory.find_by_email(user.email)
    assert person is not None
    with pytest.raises(PolicyViolation) as too_short:
        directory.reset_password(person, "short")
    assert too_short.value.reason == "the password does not meet the quality rules (length or character mix)"
    with pytest.raises(PolicyViolation) as reused:
        directory.reset_password(person, "Current-Pass-1")
    assert reused.value.reason == "the password was used recently"
    assert "Current-Pass-1" not in str(reused.value)
    assert slapd.try_bind(user.dn, "Current-Pass-1").ok  # nothing changed


# --- lockout ---------------------------------------------------------------------------------------------


def test_lockout_is_reported_and_unlock_clears_it(slapd: DirectoryServer, directory: LdapDirectory) -> None:
    user = slapd.create_user()
    person = directory.find_by_email(user.email)
    assert person is not None
    assert directory.account_status(person) == AccountStatus(exists=True)
    slapd.lock_out(user.dn)
    assert not slapd.try_bind(user.dn, user.password).ok
    assert directory.account_status(person).locked
    directory.unlock(person)
    assert not directory.account_status(person).locked
    assert slapd.try_bind(user.dn, user.password).ok
    with pytest.raises(NotLocked):
        directory.unlock(person)


def test_reset_clears_a_lockout(slapd: DirectoryServer, directory: LdapDirectory) -> None:
    user = slapd.create_user()
    person = directory.find_by_email(user.email)
    assert person is not None
    slapd.lock_out(user.dn)
    directory.reset_password(person, "After-Lockout-Pass-3", must_change=False)
    assert not directory.account_status(person).locked
    assert slapd.try_bind(user.dn, "After-Lockout-Pass-3").ok


# --- refusals --------------------------------------------------------------------------------------------


def test_a_reset_whose_must_change_step_fails_reports_the_changed_password(
    fresh_slapd: DirectoryServer,
) -> None:
    """The bot may set passwords but not pwdReset: the password changes, "must change" does not, and the
    caller is told exactly that (PartiallyApplied), never that the reset failed."""
    user = fresh_slapd.create_user()
    fresh_slapd.revoke_bot_write("pwdReset")
    directory = LdapDirectory(fresh_slapd.config())
    try:
        person = directory.find_by_email(user.email)
        assert person is not None
        with pytest.raises(PartiallyApplied) as raised:
            directory.reset_password(person, "Half-Done-Pass-11")
    finally:
        directory.close()
    assert raised.value.unfinished == ("must_change",) and "pwdReset" in raised.value.reason
    assert fresh_slapd.try_bind(user.dn, "Half-Done-Pass-11").ok
    assert not fresh_slapd.read(user.dn, ["pwdReset"]).get("pwdReset")


def test_the_decoy_status_read_costs_the_queries_of_a_real_one(
    slapd: DirectoryServer, directory: LdapDirectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refusing an unknown person must cost what refusing a known one does, or timing tells them apart."""
    person = directory.find_by_email(slapd.create_user().email)
    assert person is not None
    sent: list[str] = []
    real_search = connection.Session.search

    def counting(self, *args, **kwargs):
        sent.append("search")
        return real_search(self, *args, **kwargs)

    monkeypatch.setattr(connection.Session, "search", counting)
    directory.account_status(person)
    real = len(sent)
    directory.decoy_status_read()
    assert real >= 2 and len(sent) - real == real  # the status read and the group walk, both times


def test_protected_group_members_are_refused(
    slapd: DirectoryServer, directory: LdapDirectory, protected_group: str
) -> None:
    user = slapd.create_user(groups=[protected_group])
    person = directory.find_by_email(user.email)
    assert person is not None
    status = directory.account_status(person)
    assert status.protected and status.protected_reason == "member of ldap-admins"
    with pytest.raises(NotPermitted):
        directory.reset_password(person, "Hijack-Attempt-9")
    assert slapd.try_bind(user.dn, user.password).ok  # unchanged


def test_nested_protected_group_members_are_refused(
    slapd: DirectoryServer, directory: LdapDirectory, protected_group: str
) -> None:
    user = slapd.create_user()
    team = slapd.create_group(members=[user.dn])
    slapd.add_to_group(team, protected_group)
    person = directory.find_by_email(user.email)
    assert person is not None
    assert directory.account_status(person).protected
    slapd.lock_out(user.dn)
    with pytest.raises(NotPermitted):
        directory.unlock(person)
    assert directory.account_status(person).locked  # still locked: nothing was written


def test_disabled_accounts_are_reported_and_never_re_enabled(
    slapd: DirectoryServer, directory: LdapDirectory
) -> None:
    user = slapd.create_user()
    slapd.disable_user(user.dn)
    person = directory.find_by_email(user.email)
    assert person is not None
    status = directory.account_status(person)
    assert status.disabled and not status.locked
    # A reset or an unlock would clear ppolicy's administrative lock: both are refused.
    with pytest.raises(NotPermitted):
        directory.reset_password(person, "Sneaky-Enable-Pass-4")
    with pytest.raises(NotPermitted):
        directory.unlock(person)
    assert slapd.read(user.dn, ["pwdAccountLockedTime"])["pwdAccountLockedTime"] == ["000001010000Z"]


def test_writes_to_unknown_accounts_raise_not_found(slapd: DirectoryServer, directory: LdapDirectory) -> None:
    ghost = DirectoryPerson(id=f"uid=ghost,{slapd.people_dn}", email="ghost@example.org", name="Ghost")
    with pytest.raises(NotFound):
        directory.reset_password(ghost, "Whatever-Pass-5")


# --- connection failures -----------------------------------------------------------------------------------


def assert_quick_failure(directory: LdapDirectory, limit: float) -> DirectoryUnavailable:
    started = time.monotonic()
    with pytest.raises(DirectoryUnavailable) as failure:
        directory.find_by_email("alice@example.org")
    assert time.monotonic() - started < limit
    directory.close()
    return failure.value


def test_wrong_bot_password_is_unavailable(slapd: DirectoryServer) -> None:
    failure = assert_quick_failure(LdapDirectory(slapd.config(bind_password="wrong")), 2)
    assert "credentials" in failure.reason and "wrong" not in failure.reason


def test_wrong_ca_is_refused(slapd: DirectoryServer, foreign_ca: str) -> None:
    failure = assert_quick_failure(LdapDirectory(slapd.config(ca_file=foreign_ca)), 2)
    assert "certificate" in failure.reason


def test_starttls_with_the_right_ca_works(slapd: DirectoryServer) -> None:
    directory = LdapDirectory(slapd.config(url=slapd.url))
    assert directory.find_by_email("alice@example.org") is not None
    directory.close()


def test_server_that_never_answers_times_out(slapd: DirectoryServer) -> None:
    with socket.socket() as silent:  # accepts TCP connections (backlog) but never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        for url in (f"ldaps://127.0.0.1:{port}", f"ldap://127.0.0.1:{port}"):
            config = slapd.config(url=url, connect_timeout=1, receive_timeout=1)
            assert_quick_failure(LdapDirectory(config), 3)


def test_stopped_server_fails_fast_and_reconnects_after_restart(fresh_slapd: DirectoryServer) -> None:
    directory = LdapDirectory(fresh_slapd.config())
    assert directory.find_by_email("alice@example.org") is not None  # connection now open and reused
    fresh_slapd.stop()
    failure = assert_quick_failure(directory, 2)
    assert "reached" in failure.reason or "answer" in failure.reason
    fresh_slapd.start_again()
    assert directory.find_by_email("alice@example.org") is not None
    directory.close()


def test_a_dropped_connection_is_reopened_transparently(fresh_slapd: DirectoryServer) -> None:
    directory = LdapDirectory(fresh_slapd.config())
    assert directory.find_by_email("bob@example.org") is not None
    fresh_slapd.stop()
    fresh_slapd.start_again()  # the reused socket is now dead; the next read must not notice
    assert directory.find_by_email("bob@example.org") is not None
    directory.close()


def test_concurrent_use_from_threads(slapd: DirectoryServer, directory: LdapDirectory) -> None:
    results: list[object] = []

    def lookup() -> None:
        for _ in range(10):
            results.append(directory.find_by_email("bob@example.org"))

    threads = [threading.Thread(target=lookup) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 60 and all(isinstance(found, DirectoryPerson) for found in results)


# --- secrets in logs -------------------------------------------------------------------------------------


def test_no_password_in_any_log_line(slapd: DirectoryServer, debug_logs: CapturedLogs) -> None:
    # As if an operator had switched ldap3's own debugging on: the backend must still keep it quiet.
    set_library_log_detail_level(EXTENDED)
    logging.getLogger("ldap3").setLevel(logging.NOTSET)
    try:
        directory = LdapDirectory(slapd.config(base_dn=slapd.people_dn))
        try:
            reset_unlock_and_fail(slapd, directory, debug_logs)
        finally:
            directory.close()
    finally:
        set_library_log_detail_level(OFF)


def reset_unlock_and_fail(slapd: DirectoryServer, directory: LdapDirectory, debug_logs: CapturedLogs) -> None:
    user = slapd.create_user()
    person = directory.find_by_email(user.email)
    assert person is not None
    password = generate_temporary_password(directory.password_policy())
    directory.reset_password(person, password)
    slapd.lock_out(user.dn)
    directory.unlock(person)
    with pytest.raises(PolicyViolation):
        directory.reset_password(person, "tiny")
    assert debug_logs.events, "structlog capture saw nothing: the test would prove nothing"
    assert not debug_logs.containing(password, "tiny", slapd.bot_password)


def test_the_log_capture_would_see_ldap3_leaking(
    slapd: DirectoryServer, directory: LdapDirectory, debug_logs: CapturedLogs
) -> None:
    """Control for the test above: with ldap3's logger opened up, the new password does show."""
    user = slapd.create_user()
    person = directory.find_by_email(user.email)
    assert person is not None
    ldap3_logger = logging.getLogger("ldap3")
    ldap3_logger.setLevel(logging.DEBUG)
    set_library_log_detail_level(EXTENDED)
    try:
        directory.reset_password(person, "Leaky-Control-Pass-6")
    finally:
        set_library_log_detail_level(OFF)
        ldap3_logger.setLevel(logging.WARNING)
    assert debug_logs.containing("Leaky-Control-Pass-6")


@pytest.fixture
def foreign_ca() -> str:
    """A CA bundle that did NOT sign slapd's self-signed certificate."""
    return "/etc/ssl/certs/ca-certificates.crt"
