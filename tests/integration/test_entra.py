"""The Entra ID backend against a fake Entra ID and Microsoft Graph over HTTPS on 127.0.0.1
(tests/servers/fake_entra.py), through the real msal and httpx: lookups, resets, refusals before any write,
throttling, the token cache, group grants, TLS trust and secrets."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme

from automations.directory import (
    NotPermitted,
    PartiallyApplied,
    UnlockUnsupported,
    can_unlock,
)
from automations.entra import AppCredentials, EntraDirectory, GraphClient
from automations.entra.credentials import CredentialsError
from automations.entra.graph import DEFAULT_WAIT_SECONDS, GraphThrottled, GraphUnavailable
from bot import logs
from bot.bootstrap import build_directory
from bot.settings import load_settings
from tests.servers.fake_entra import FakeEntra, issue_app_certificate

PASSWORD = "Temp-Pass-4u!Kx9z"


def credentials(fake: FakeEntra, **overrides: object) -> AppCredentials:
    settings = {
        "tenant_id": fake.tenant,
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "authority": fake.url,
        "ca_file": fake.ca_file,
        **overrides,
    }
    return AppCredentials(**settings)  # type: ignore[arg-type]


def directory_for(
    fake: FakeEntra, *, sleep: Callable[[float], None] | None = None, protected: tuple[str, ...] = ()
) -> EntraDirectory:
    graph = GraphClient(credentials(fake), fake.url, ca_file=fake.ca_file, sleep=sleep or _no_sleep)
    return EntraDirectory(graph, protected_groups=protected)


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"slept {seconds} s without being throttled")


@pytest.fixture
def eve(fake_entra: FakeEntra) -> str:
    maria = fake_entra.add_user("maria@example.com", "Maria Manager", title="Head of Sales")
    return fake_entra.add_user(
        "eve@example.com",
        "Eve Employee",
        manager=maria,
        other_mails=("eve.private@example.net",),
        title="Analyst",
        department="Sales",
        office="London",
    )


def test_the_directory_is_built_from_the_entra_settings(fake_entra: FakeEntra, eve: str) -> None:
    directory = build_directory(load_settings(**fake_entra.settings()))
    assert isinstance(directory, EntraDirectory)
    person = directory.find_by_email("EVE@example.com")
    assert person is not None and person.id == eve


def test_a_person_with_profile_manager_and_transitive_groups(fake_entra: FakeEntra, eve: str) -> None:
    team = fake_entra.add_group("Team share", eve)
    fake_entra.add_group("Finance", eve)
    fake_entra.add_group("All staff", team)  # nested: Eve is in it through Team share
    person = directory_for(fake_entra).find_by_email("eve@example.com")
    assert person is not None
    assert (person.id, person.email, person.name) == (eve, "eve@example.com", "Eve Employee")
    assert (person.title, person.department, person.location) == ("Analyst", "Sales", "London")
    assert person.manager_email == "maria@example.com"
    assert person.recovery_email == "eve.private@example.net"
    assert person.groups == ("All staff", "Finance", "Team share")  # three groups: two pages
    assert len(fake_entra.of("GET", "transitiveMemberOf$")) == 2


def test_found_by_user_principal_name_and_nobody_has_no_manager(fake_entra: FakeEntra) -> None:
    sam = fake_entra.add_user("sam@example.com", "Sam", upn="sam.smith@corp.example.com", mail="")
    person = directory_for(fake_entra).find_by_email("sam.smith@corp.example.com")
    assert person is not None and person.id == sam
    assert person.email == "sam.smith@corp.example.com" and person.username == "sam.smith"
    assert person.manager_email is None
    assert directory_for(fake_entra).find_by_email("nobody@example.com") is None


def test_quotes_in_an_email_are_escaped_and_cannot_add_a_clause(fake_entra: FakeEntra, eve: str) -> None:
    obrien = fake_entra.add_user("o'brien@example.com", "Pat O'Brien")
    directory = directory_for(fake_entra)
    person = directory.find_by_email("o'brien@example.com")
    assert person is not None and person.id == obrien
    assert "mail eq 'o''brien@example.com'" in fake_entra.of("GET", "^users$")[-1].query["$filter"]
    assert directory.find_by_email("x' or mail eq 'eve@example.com") is None
    assert directory.get("../groups") is None and directory.get("") is None  # forged ids: no call made


def test_a_reset_sets_the_password_with_force_change_then_revokes_sessions(
    fake_entra: FakeEntra, eve: str
) -> None:
    directory = directory_for(fake_entra)
    person = directory.find_by_email("eve@example.com")
    assert person is not None
    directory.reset_password(person, PASSWORD, must_change=True)
    assert fake_entra.passwords[eve] == {"password": PASSWORD, "forceChangePasswordNextSignIn": True}
    assert fake_entra.revoked == [eve]
    assert [(c.method, c.path) for c in fake_entra.writes()] == [
        ("PATCH", f"users/{eve}"),
        ("POST", f"users/{eve}/revokeSignInSessions"),
    ]


def test_a_failed_revoke_after_the_reset_is_partially_applied(fake_entra: FakeEntra, eve: str) -> None:
    fake_entra.fail("POST", "revokeSignInSessions$", 500)
    directory = directory_for(fake_entra)
    person = directory.find_by_email("eve@example.com")
    assert person is not None
    with pytest.raises(PartiallyApplied) as raised:
        directory.reset_password(person, PASSWORD)
    assert raised.value.unfinished == ("revoke_sessions",)
    assert fake_entra.passwords[eve]["password"] == PASSWORD  # it did change: the caller must hand it over
    assert PASSWORD not in raised.value.reason


def _role_holder(fake: FakeEntra, user: str) -> None:
    fake.add_group("Finance", user)
    fake.add_group("Sales", user)
    fake.add_role("Helpdesk Administrator", user)  # on the second page of transitiveMemberOf


def _role_group_member(fake: FakeEntra, user: str) -> None:
    fake.add_group("Tier-0 admins", user, role_assignable=True)


def _protected_by_name(fake: FakeEntra, user: str) -> None:
    fake.add_group("Executives", user)


def _protected_by_nesting(fake: FakeEntra, user: str) -> None:
    inner = fake.add_group("Board assistants", user)
    fake.add_group("Executives", inner)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_role_holder, "holds the directory role Helpdesk Administrator"),
        (_role_group_member, "member of Tier-0 admins (a role-assignable group)"),
        (_protected_by_name, "member of Executives"),
        (_protected_by_nesting, "member of Executives"),
    ],
)
def test_privileged_accounts_are_refused_before_any_write(
    fake_entra: FakeEntra, make: Callable[[FakeEntra, str], None], reason: str
) -> None:
    rita = fake_entra.add_user("rita@example.com", "Rita Root")
    make(fake_entra, rita)
    directory = directory_for(fake_entra, protected=("executives",))
    person = directory.find_by_email("rita@example.com")
    assert person is not None
    status = directory.account_status(person)
    assert status.protected and status.protected_reason == reason
    with pytest.raises(NotPermitted) as raised:
        directory.reset_password(person, PASSWORD)
    # The ldap3 backend's words.
    assert raised.value.reason == f"refused to reset the password of a protected account ({reason})"
    assert fake_entra.writes() == [] and rita not in fake_entra.passwords


def test_a_protected_group_given_by_object_id_is_refused(fake_entra: FakeEntra) -> None:
    rita = fake_entra.add_user("rita@example.com", "Rita Root")
    board = fake_entra.add_group("Board", rita)
    directory = directory_for(fake_entra, protected=(board.upper(),))
    person = directory.find_by_email("rita@example.com")
    assert person is not None
    with pytest.raises(NotPermitted, match=r"protected account \(member of Board\)"):
        directory.reset_password(person, PASSWORD)
    assert fake_entra.writes() == []


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        ({"synced": True}, "synced from on-premises Active Directory: reset in Active Directory"),
        ({"guest": True}, "a guest account"),
        ({"enabled": False}, "a disabled account"),
    ],
)
def test_synced_guest_and_disabled_accounts_are_refused(
    fake_entra: FakeEntra, flags: dict[str, bool], words: str
) -> None:
    fake_entra.add_user("sid@example.com", "Sid Synced", **flags)  # type: ignore[arg-type]
    directory = directory_for(fake_entra)
    person = directory.find_by_email("sid@example.com")
    assert person is not None
    with pytest.raises(NotPermitted, match=words):
        directory.reset_password(person, PASSWORD)
    assert fake_entra.writes() == []


def test_unlock_is_not_a_graph_operation(fake_entra: FakeEntra, eve: str) -> None:
    directory = directory_for(fake_entra)
    person = directory.find_by_email("eve@example.com")
    assert person is not None and not can_unlock(directory)
    with pytest.raises(UnlockUnsupported, match="offer a password reset or a ticket"):
        directory.unlock(person)
    assert fake_entra.writes() == []


def test_throttling_waits_as_long_as_retry_after_asks(fake_entra: FakeEntra, eve: str) -> None:
    waits: list[float] = []
    fake_entra.throttle("GET", "^users$", times=2, retry_after="7")
    person = directory_for(fake_entra, sleep=waits.append).find_by_email("eve@example.com")
    assert person is not None and person.id == eve
    assert waits == [7.0, 7.0]
    assert len(fake_entra.of("GET", "^users$")) == 3


def test_throttling_past_the_bound_fails_as_throttled(fake_entra: FakeEntra, eve: str) -> None:
    waits: list[float] = []
    fake_entra.throttle("GET", "^users$", times=10, retry_after="1")
    with pytest.raises(GraphThrottled):
        directory_for(fake_entra, sleep=waits.append).find_by_email("eve@example.com")
    assert waits == [1.0, 1.0, 1.0]  # four attempts in all, never at once


def test_a_retry_after_longer_than_a_person_can_wait_fails_at_once(fake_entra: FakeEntra, eve: str) -> None:
    waits: list[float] = []
    fake_entra.throttle("GET", "^users$", times=1, retry_after="3600")
    with pytest.raises(GraphThrottled, match="retry after 3600 s"):
        directory_for(fake_entra, sleep=waits.append).find_by_email("eve@example.com")
    assert waits == []  # an hour: fail now (a technician takes it) rather than retry before it is over


def test_one_token_serves_many_graph_calls(fake_entra: FakeEntra, eve: str) -> None:
    directory = directory_for(fake_entra)
    for _ in range(5):
        person = directory.find_by_email("eve@example.com")
        assert person is not None
        directory.account_status(person)
    assert len(fake_entra.calls) > 20
    assert len(fake_entra.token_requests) == 1
    assert fake_entra.token_requests[0]["scope"] == f"{fake_entra.url}/.default"


def test_a_token_close_to_expiry_is_renewed(fake_entra: FakeEntra) -> None:
    """msal renews a token with less than five minutes left: one that lives a minute is never reused."""
    fake_entra.token_lifetime = 60
    source = credentials(fake_entra)
    first, second = source.token("https://x/.default"), source.token("https://x/.default")
    assert first != second and len(fake_entra.token_requests) == 2


def test_a_certificate_credential_gets_a_token(fake_entra: FakeEntra, tmp_path: Path) -> None:
    pem = issue_app_certificate(fake_entra, tmp_path)
    token = credentials(fake_entra, client_secret="", certificate_file=pem).token("https://x/.default")
    assert token.startswith("fake-access-token-")
    sent = fake_entra.token_requests[-1]
    assert "client_assertion" in sent and "client_secret" not in sent


def test_a_wrong_secret_is_a_typed_error_that_never_shows_the_secret(fake_entra: FakeEntra) -> None:
    wrong = "not-the-secret-8Hq!"
    with pytest.raises(CredentialsError) as raised:
        credentials(fake_entra, client_secret=wrong).token("https://x/.default")
    assert "AADSTS7000215" in str(raised.value) and wrong not in str(raised.value)
    graph = GraphClient(
        credentials(fake_entra, client_secret=wrong), fake_entra.url, ca_file=fake_entra.ca_file
    )
    with pytest.raises(GraphUnavailable) as unavailable:
        EntraDirectory(graph).find_by_email("eve@example.com")
    assert wrong not in unavailable.value.reason


def test_the_ca_setting_wins_over_ca_bundles_in_the_environment(
    fake_entra: FakeEntra, eve: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.setenv(variable, str(other_ca))
    person = directory_for(fake_entra).find_by_email("eve@example.com")
    assert person is not None and person.id == eve
    # Without the setting the environment's (wrong) CA is used, and the fake's certificate is refused:
    # the test above really ran with a misleading environment.
    with pytest.raises(CredentialsError, match=r"(?i)certificate"):
        credentials(fake_entra, ca_file=None).token(f"{fake_entra.url}/.default")


def test_group_grants_and_removals_are_idempotent(fake_entra: FakeEntra, eve: str) -> None:
    team = fake_entra.add_group("Team share")
    directory = directory_for(fake_entra)
    person = directory.find_by_email("eve@example.com")
    assert person is not None
    assert directory.add_member(person, "Team share") is True
    assert fake_entra.member_ids(team) == [eve] and directory.is_member(person, "Team share")
    assert directory.add_member(person, team) is False  # by object id; "already exist" counts as done
    assert directory.remove_member(person, "team share") is True
    assert fake_entra.member_ids(team) == []
    assert directory.remove_member(person, team) is False  # 404: not a member, done
    assert not directory.is_member(person, "Team share")
    assert len(fake_entra.of("GET", "^groups$")) == 1  # the name was resolved once


def test_a_pre_existing_membership_is_reported_and_kept(fake_entra: FakeEntra, eve: str) -> None:
    finance = fake_entra.add_group("Finance", eve)
    directory = directory_for(fake_entra)
    person = directory.find_by_email("eve@example.com")
    assert person is not None
    assert directory.add_member(person, "Finance") is False
    assert fake_entra.member_ids(finance) == [eve]


def test_role_assignable_and_protected_groups_are_never_changed(fake_entra: FakeEntra, eve: str) -> None:
    tier0 = fake_entra.add_group("Tier-0 admins", role_assignable=True)
    fake_entra.add_group("Executives")
    directory = directory_for(fake_entra, protected=("Executives",))
    person = directory.find_by_email("eve@example.com")
    assert person is not None
    for group in (tier0, "Executives"):
        with pytest.raises(NotPermitted, match="refused to change the membership of the protected group"):
            directory.add_member(person, group)
    guest = directory.get(fake_entra.add_user("gus@partner.example", "Gus Guest", guest=True))
    assert guest is not None
    with pytest.raises(NotPermitted, match="guest"):
        directory.add_member(guest, "Finance")
    assert fake_entra.writes() == []


def test_unknown_groups_are_not_found(fake_entra: FakeEntra, eve: str) -> None:
    directory = directory_for(fake_entra)
    person = directory.find_by_email("eve@example.com")
    assert person is not None
    assert directory.group_members("No such group") == []
    assert not directory.is_member(person, "No such group")
    fake_entra.add_group("No such group", eve)  # created later: found without a restart
    assert directory.is_member(person, "No such group")


def test_group_members_are_the_transitive_users(fake_entra: FakeEntra, eve: str) -> None:
    tess = fake_entra.add_user("tess@example.com", "Tess Tech")
    inner = fake_entra.add_group("Tier 2", eve)
    fake_entra.add_group("it-support", tess, inner)
    members = directory_for(fake_entra).group_members("it-support")
    assert sorted(p.email for p in members) == ["eve@example.com", "tess@example.com"]


def test_the_client_secret_and_password_appear_in_no_log_line(fake_entra: FakeEntra, eve: str) -> None:
    stream = io.StringIO()
    logs.configure_logging("DEBUG", "json", stream=stream)
    try:
        directory = build_directory(load_settings(**fake_entra.settings()))
        logs.register_secret(PASSWORD)
        logging.getLogger("urllib3").setLevel(logging.DEBUG)  # even the chattiest library lines
        person = directory.find_by_email("eve@example.com")
        assert person is not None
        directory.reset_password(person, PASSWORD)
    finally:
        logs.forget_secret(PASSWORD)
    text = stream.getvalue()
    assert "directory_password_reset" in text and "graph_call" in text  # the capture caught lines
    assert fake_entra.client_secret not in text and PASSWORD not in text


def test_a_503_without_retry_after_is_retried_after_a_default_wait(fake_entra: FakeEntra, eve: str) -> None:
    waits: list[float] = []
    fake_entra.fail("GET", "^users$", 503, times=1)
    person = directory_for(fake_entra, sleep=waits.append).find_by_email("eve@example.com")
    assert person is not None and waits == [DEFAULT_WAIT_SECONDS]


def test_a_role_graph_lists_without_its_name_is_refused_all_the_same(fake_entra: FakeEntra) -> None:
    """Without a role-read permission Graph lists a directory role with its type and id only."""
    rita = fake_entra.add_user("rita@example.com", "Rita Root")
    role = fake_entra.add_role("", rita)
    directory = directory_for(fake_entra)
    person = directory.get(rita)
    assert person is not None
    assert directory.account_status(person).protected_reason == f"holds the directory role {role}"
