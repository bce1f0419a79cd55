"""LdapDirectory against a real Samba AD DC, started once per session by the `samba_ad` fixture (root).

The bot binds as helpdesk-bot, delegated only Reset Password, pwdLastSet and lockoutTime on OU=Staff and
member on OU=Groups, like a production help-desk account. Samba has no AdminSDHolder: a Domain Admin that
lives in OU=Staff CAN be reset by the bot at the server level, so the refusals below are frontdesk's own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from ldap3.utils.log import EXTENDED, OFF, set_library_log_detail_level

from automations.directory import (
    AccountStatus,
    Directory,
    DirectoryPerson,
    DirectoryUnavailable,
    NotLocked,
    NotPermitted,
    PolicyViolation,
)
from automations.ldap import LdapDirectory, active_directory, connection
from automations.passwords import generate_temporary_password
from tests.servers.directory import CapturedLogs, DirectoryServer

pytestmark = [pytest.mark.samba, pytest.mark.slow]

INJECTIONS = ["*", "a)(|(uid=*", "\\", "\x00", "*)(mail=*", "*@example.test", "john.doe@example.test)(cn=*"]
MUST_CHANGE = "data 773"  # AD bind error detail: the password is right but must be changed first
WRONG_PASSWORD = "data 52e"


@pytest.fixture
def directory(samba_ad: DirectoryServer) -> Iterator[LdapDirectory]:
    directory = LdapDirectory(samba_ad.config())
    yield directory
    directory.close()


def person_for(directory: LdapDirectory, email: str) -> DirectoryPerson:
    person = directory.find_by_email(email)
    assert person is not None, email
    return person


# --- reading people --------------------------------------------------------------------------------------


def test_it_is_a_directory(directory: LdapDirectory) -> None:
    assert isinstance(directory, Directory)
    assert directory.name == "active_directory"


def test_find_by_email_fills_every_field(samba_ad: DirectoryServer, directory: LdapDirectory) -> None:
    manager = samba_ad.create_user(name="Mona Manager")
    user = samba_ad.create_user(
        name="Rita Reader",
        title="Analyst",
        department="Finance",
        location="Porto Office",
        recovery_email="rita@private.example.net",
        manager=manager.dn,
        groups=["vpn-users"],
    )
    person = directory.find_by_email(user.email.upper())
    assert person == DirectoryPerson(
        id=user.dn,
        email=user.email,
        name="Rita Reader",
        title="Analyst",
        department="Finance",
        location="Porto Office",
        manager_email=manager.email,
        groups=("vpn-users",),
        recovery_email="rita@private.example.net",
        username=user.username,
    )
    assert directory.get(user.dn) == person


def test_seeded_people_carry_ticket_details(directory: LdapDirectory) -> None:
    john = person_for(directory, "john.doe@example.test")
    assert (john.title, john.department, john.location) == ("Engineer", "IT", "Berlin")
    assert john.manager_email == "a.smith(it)*@example.test"
    assert john.recovery_email == "john.private@example.net"
    assert person_for(directory, "a.smith(it)*@example.test").username == "asmith"


@pytest.mark.parametrize("attack", INJECTIONS)
def test_filter_injection_finds_nobody(directory: LdapDirectory, attack: str) -> None:
    assert directory.find_by_email(attack) is None
    assert directory.group_members(attack) == []


def test_groups_nested_and_by_name(samba_ad: DirectoryServer, directory: LdapDirectory) -> None:
    user = samba_ad.create_user()
    inner = samba_ad.create_group(members=[user.dn])
    outer = samba_ad.create_group(members=[inner])
    person = person_for(directory, user.email)
    assert directory.is_member(person, outer)  # through `inner`, by the in-chain rule
    assert not directory.is_member(person, "vpn-users")
    outer_name = outer.split(",")[0].split("=")[1]
    assert [p.email for p in directory.group_members(outer_name)] == [user.email]
    assert {"a.smith(it)*@example.test", "john.doe@example.test"} <= {
        p.email for p in directory.group_members("vpn-users")
    }


# --- resets ----------------------------------------------------------------------------------------------


def test_reset_new_password_binds_and_old_fails(samba_ad: DirectoryServer, directory: LdapDirectory) -> None:
    user = samba_ad.create_user()
    directory.reset_password(person_for(directory, user.email), "Brand-New-Passw0rd!", must_change=False)
    assert samba_ad.try_bind(user.dn, "Brand-New-Passw0rd!").ok
    old = samba_ad.try_bind(user.dn, user.password)
    assert not old.ok and old.code == 49 and WRONG_PASSWORD in old.message


def test_must_change_is_enforced(samba_ad: DirectoryServer, directory: LdapDirectory) -> None:
    user = samba_ad.create_user()
    directory.reset_password(person_for(directory, user.email), "Temp-For-Now-Passw0rd!")
    assert samba_ad.read(user.dn, ["pwdLastSet"])["pwdLastSet"] in (["0"], [0])
    outcome = samba_ad.try_bind(user.dn, "Temp-For-Now-Passw0rd!")
    assert not outcome.ok and outcome.code == 49 and MUST_CHANGE in outcome.message


def test_generated_password_meets_the_domain_policy(
    samba_ad: DirectoryServer, directory: LdapDirectory
) -> None:
    policy = directory.password_policy()
    assert (policy.min_length, policy.require_classes, policy.history) == (7, 3, 24)
    user = samba_ad.create_user()
    person = person_for(directory, user.email)
    for _ in range(5):
        password = generate_temporary_password(policy, avoid=[person.username, *person.name.split()])
        directory.reset_password(person, password, must_change=False)
        assert samba_ad.try_bind(user.dn, password).ok
    password = generate_temporary_password(policy)
    directory.reset_password(person, password)  # and as a temporary password, with must-change
    assert MUST_CHANGE in samba_ad.try_bind(user.dn, password).message


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("Sh0rt!", "the password is too short"),
        ("onlylowercaseletters", "the password does not meet the complexity rules"),
    ],
)
def test_policy_violations_are_typed_with_plain_reasons(
    samba_ad: DirectoryServer, directory: LdapDirectory, password: str, reason: str
) -> None:
    user = samba_ad.create_user()
    with pytest.raises(PolicyViolation) as violation:
        directory.reset_password(person_for(directory, user.email), password)
    assert violation.value.reason == reason
    assert password not in str(violation.value)
    assert samba_ad.try_bind(user.dn, user.password).ok  # unchanged


# --- lockout ---------------------------------------------------------------------------------------------


def test_lockout_is_reported_and_unlock_clears_it(
    samba_ad: DirectoryServer, directory: LdapDirectory
) -> None:
    user = samba_ad.create_user()
    person = person_for(directory, user.email)
    assert directory.account_status(person) == AccountStatus(exists=True)
    samba_ad.lock_out(user.dn)
    assert "data 775" in samba_ad.try_bind(user.dn, user.password).message
    assert directory.account_status(person).locked
    directory.unlock(person)
    assert not directory.account_status(person).locked
    assert samba_ad.try_bind(user.dn, user.password).ok
    with pytest.raises(NotLocked):
        directory.unlock(person)


def test_reset_of_a_locked_account_also_unlocks_it(
    samba_ad: DirectoryServer, directory: LdapDirectory
) -> None:
    """AD keeps the lockout after a reset (measured); the backend unlocks explicitly."""
    user = samba_ad.create_user()
    person = person_for(directory, user.email)
    samba_ad.lock_out(user.dn)
    directory.reset_password(person, "After-Lockout-Passw0rd!", must_change=False)
    assert not directory.account_status(person).locked
    assert samba_ad.try_bind(user.dn, "After-Lockout-Passw0rd!").ok


# --- refusals --------------------------------------------------------------------------------------------


def test_domain_admin_inside_the_delegated_ou_is_refused(
    samba_ad: DirectoryServer, directory: LdapDirectory
) -> None:
    user = samba_ad.create_user(groups=["Domain Admins"])
    assert samba_ad.read(user.dn, ["adminCount"]).get("adminCount") in (None, [])  # Samba: no AdminSDHolder
    person = person_for(directory, user.email)
    status = directory.account_status(person)
    assert status.protected and status.protected_reason == "member of Domain Admins"
    with pytest.raises(NotPermitted):
        directory.reset_password(person, "Hijack-Passw0rd!9")
    assert samba_ad.try_bind(user.dn, user.password).ok  # unchanged


def test_unreadable_domain_sid_fails_closed(
    samba_ad: DirectoryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the domain SID, Domain Admins cannot be recognised: every account counts as protected."""
    user = samba_ad.create_user()
    domain = samba_ad.base_dn
    real_read = connection.Session.read

    def read_without_domain_sid(self, dn, attributes, search_filter="(objectClass=*)"):
        if attributes == ["objectSid"] and dn.lower() == domain.lower():
            return None  # as if the bot were not allowed to read it
        return real_read(self, dn, attributes, search_filter)

    monkeypatch.setattr(connection.Session, "read", read_without_domain_sid)
    directory = LdapDirectory(samba_ad.config())
    try:
        person = person_for(directory, user.email)
        status = directory.account_status(person)
        assert status.protected and "could not be resolved" in status.protected_reason
        with pytest.raises(NotPermitted):
            directory.reset_password(person, "Never-Set-Passw0rd!")
        monkeypatch.setattr(connection.Session, "read", real_read)
        assert not directory.account_status(person).protected  # not cached: fixed as soon as readable
    finally:
        directory.close()
    assert samba_ad.try_bind(user.dn, user.password).ok


def test_unreadable_group_memberships_fail_closed(
    samba_ad: DirectoryServer, directory: LdapDirectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = samba_ad.create_user()
    without_token_groups = [a for a in active_directory.STATUS_ATTRIBUTES if a != "tokenGroups"]
    monkeypatch.setattr(active_directory, "STATUS_ATTRIBUTES", without_token_groups)
    status = directory.account_status(person_for(directory, user.email))
    assert status.protected and "tokenGroups" in status.protected_reason


def test_the_decoy_status_read_costs_the_queries_of_a_real_one(
    samba_ad: DirectoryServer, directory: LdapDirectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refusing an unknown person must cost what refusing a known one does, or timing tells them apart."""
    person = person_for(directory, samba_ad.create_user().email)
    directory.account_status(person)  # the protected groups are resolved once and cached
    queries = count_queries(monkeypatch)
    directory.account_status(person)
    real = len(queries)
    directory.decoy_status_read()
    assert real >= 2 and len(queries) - real == real


def count_queries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every search the backend sends from now on (paged or not), as a list that grows."""
    sent: list[str] = []
    for name in ("search", "paged_search"):
        real = getattr(connection.Session, name)

        def counting(self, *args, _real=real, _name=name, **kwargs):
            sent.append(_name)
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(connection.Session, name, counting)
    return sent


def test_seeded_domain_admin_is_protected(directory: LdapDirectory) -> None:
    assert directory.account_status(person_for(directory, "itadmin@example.test")).protected


def test_nested_domain_admin_is_refused(samba_ad: DirectoryServer, directory: LdapDirectory) -> None:
    user = samba_ad.create_user()
    team = samba_ad.create_group(members=[user.dn])
    samba_ad.add_to_group(team, "Domain Admins")
    person = person_for(directory, user.email)
    status = directory.account_status(person)
    assert status.protected and "Domain Admins" in status.protected_reason
    samba_ad.lock_out(user.dn)
    with pytest.raises(NotPermitted):
        directory.unlock(person)
    assert directory.account_status(person).locked  # nothing was written


@pytest.mark.parametrize(
    "group",
    ["Administrators", "Account Operators", "Backup Operators", "Server Operators", "Print Operators"],
)
def test_builtin_operator_groups_are_protected(
    samba_ad: DirectoryServer, directory: LdapDirectory, group: str
) -> None:
    user = samba_ad.create_user(groups=[group])
    assert (
        directory.account_status(person_for(directory, user.email)).protected_reason == f"member of {group}"
    )


def test_configured_protected_group_counts_when_nested(samba_ad: DirectoryServer) -> None:
    tier0 = samba_ad.create_group()
    user = samba_ad.create_user()
    team = samba_ad.create_group(members=[user.dn])
    samba_ad.add_to_group(team, tier0)
    directory = LdapDirectory(samba_ad.config(protected_groups=(tier0,)))
    try:
        status = directory.account_status(person_for(directory, user.email))
        assert status.protected and status.protected_reason == f"member of {tier0.split(',')[0][3:]}"
    finally:
        directory.close()


def test_configured_distribution_group_is_found_by_the_in_chain_rule(samba_ad: DirectoryServer) -> None:
    """Distribution groups are not in tokenGroups: only the in-chain search sees this membership."""
    mailing_list = samba_ad.create_group(security=False)
    user = samba_ad.create_user()
    team = samba_ad.create_group(members=[user.dn], security=False)
    samba_ad.add_to_group(team, mailing_list)
    directory = LdapDirectory(samba_ad.config(protected_groups=(mailing_list,)))
    try:
        assert directory.account_status(person_for(directory, user.email)).protected
    finally:
        directory.close()


def test_primary_group_domain_admins_is_seen_through_token_groups(
    samba_ad: DirectoryServer, directory: LdapDirectory
) -> None:
    """primaryGroupID membership never shows in member/memberOf; tokenGroups catches it."""
    user = samba_ad.create_user(groups=["Domain Admins"])
    samba_ad.set_attributes(user.dn, primaryGroupID="512")
    member_of = " ".join(samba_ad.read(user.dn, ["memberOf"]).get("memberOf") or [])
    assert "Domain Admins" not in member_of  # invisible to member/memberOf (and to the in-chain rule) now
    assert directory.account_status(person_for(directory, user.email)).protected


def test_admin_count_is_protected(samba_ad: DirectoryServer, directory: LdapDirectory) -> None:
    user = samba_ad.create_user()
    samba_ad.set_attributes(user.dn, adminCount="1")
    status = directory.account_status(person_for(directory, user.email))
    assert status.protected and "adminCount" in status.protected_reason


def test_disabled_account_is_reported_and_refused(
    samba_ad: DirectoryServer, directory: LdapDirectory
) -> None:
    user = samba_ad.create_user()
    samba_ad.disable_user(user.dn)
    person = person_for(directory, user.email)
    status = directory.account_status(person)
    assert status.disabled and not status.protected
    with pytest.raises(NotPermitted):
        directory.reset_password(person, "While-Disabled-Passw0rd!")


# --- connection and TLS ---------------------------------------------------------------------------------


def test_starttls_with_certificate_validation(samba_ad: DirectoryServer) -> None:
    directory = LdapDirectory(samba_ad.config(url=samba_ad.url))  # ldap:// → StartTLS before the bind
    try:
        assert directory.find_by_email("john.doe@example.test") is not None
    finally:
        directory.close()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"bind_password": "Wrong-Passw0rd!"}, "credentials"),
        ({"ca_file": "/etc/ssl/certs/ca-certificates.crt"}, "certificate"),
        ({"valid_names": ()}, "certificate"),  # the certificate names DC1.example.test, not 127.0.0.1
        ({"url": "ldaps://127.0.0.1:1"}, "reached"),
    ],
)
def test_misconfiguration_fails_fast_and_typed(
    samba_ad: DirectoryServer, overrides: dict, expected: str
) -> None:
    directory = LdapDirectory(samba_ad.config(**overrides))
    started = time.monotonic()
    with pytest.raises(DirectoryUnavailable) as failure:
        directory.find_by_email("john.doe@example.test")
    assert time.monotonic() - started < 3
    assert expected in failure.value.reason
    assert "Wrong-Passw0rd!" not in failure.value.reason


# --- secrets in logs -------------------------------------------------------------------------------------


def test_no_password_in_any_log_line(samba_ad: DirectoryServer, debug_logs: CapturedLogs) -> None:
    # As if an operator had switched ldap3's own debugging on: the backend must still keep it quiet.
    set_library_log_detail_level(EXTENDED)
    logging.getLogger("ldap3").setLevel(logging.NOTSET)
    try:
        directory = LdapDirectory(samba_ad.config())
        try:
            reset_unlock_and_fail(samba_ad, directory, debug_logs)
        finally:
            directory.close()
    finally:
        set_library_log_detail_level(OFF)


def reset_unlock_and_fail(
    samba_ad: DirectoryServer, directory: LdapDirectory, debug_logs: CapturedLogs
) -> None:
    user = samba_ad.create_user()
    person = person_for(directory, user.email)
    password = generate_temporary_password(directory.password_policy())
    directory.reset_password(person, password)
    samba_ad.lock_out(user.dn)
    directory.unlock(person)
    with pytest.raises(PolicyViolation):
        directory.reset_password(person, "Sh0rt!")
    assert debug_logs.events
    # ldap3 would log AD passwords as quoted UTF-16LE bytes: look for that form too.
    utf16 = f'"{password}"'.encode("utf-16-le")
    assert not debug_logs.containing(password, utf16, "Sh0rt!", samba_ad.bot_password)
