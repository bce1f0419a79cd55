"""The LDAP backend's pure parts: configuration checks, result-code mapping, DN handling.
Everything that talks to a server is tested against real ones in tests/integration/test_ldap_*.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from ldap3.core.exceptions import LDAPSocketOpenError, LDAPSocketReceiveError
from pydantic import SecretStr

from automations.directory import (
    DirectoryError,
    DirectoryUnavailable,
    NotFound,
    NotLocked,
    NotPermitted,
    PolicyViolation,
)
from automations.ldap import LdapConfig, LdapConfigError, config_from_settings
from automations.ldap.errors import bind_error, error_for_exception, error_for_result, policy_reason
from automations.ldap.people import dn_key, domain_dn, is_within, looks_like_dn, rdn_value

BASE = {"url": "ldaps://dc1.example.com", "bind_dn": "cn=bot", "bind_password": "s3cret", "base_dn": "dc=x"}


def config(**overrides: object) -> LdapConfig:
    return LdapConfig(**(BASE | overrides))  # type: ignore[arg-type]


# --- configuration -----------------------------------------------------------------------------------------


def test_transport_follows_the_url() -> None:
    assert (config().use_ldaps, config().port) == (True, 636)
    plain = config(url="ldap://dc1.example.com:3389")
    assert (plain.use_ldaps, plain.port, plain.host) == (False, 3389, "dc1.example.com")


def test_password_is_not_in_the_repr() -> None:
    assert "s3cret" not in repr(config())


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"url": "http://dc1"}, "url"),
        ({"url": "ldaps://"}, "url"),
        ({"flavor": "novell"}, "flavor"),
        ({"bind_password": ""}, "bind_password"),
        ({"user_filter": "objectClass=person"}, "user_filter"),
        ({"protected_groups": ("Domain Admins",)}, "protected_groups"),
        ({"receive_timeout": 0}, "timeout"),
        ({"ca_file": "/nowhere/ca.pem"}, "ca_file"),
    ],
)
def test_bad_configuration_names_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(LdapConfigError, match=field):
        config(**overrides)


def test_default_person_filters() -> None:
    assert config(flavor="ad").person_filter == "(&(objectCategory=person)(objectClass=user))"
    assert config().person_filter == "(objectClass=inetOrgPerson)"
    assert config(user_filter="(employeeType=staff)").person_filter == "(employeeType=staff)"


def test_config_from_settings() -> None:
    settings = SimpleNamespace(
        ldap_url="ldap://dc1.example.com",
        ldap_bind_dn="bot@example.com",
        ldap_bind_password=SecretStr("s3cret"),
        ldap_base_dn="DC=example,DC=com",
        ldap_flavor="ad",
        ldap_ca_file="/etc/ssl/certs/ca-certificates.crt",
        ldap_tls_server_name="dc1.example.com",
        ldap_user_filter="",
        protected_groups=["CN=Tier0,OU=Groups,DC=example,DC=com"],
        recovery_email_attribute="",
        ldap_timeout_seconds=4.0,
    )
    built = config_from_settings(settings)
    assert built.bind_password == "s3cret" and built.flavor == "ad"
    assert built.valid_names == ("dc1.example.com",) and built.ca_file == "/etc/ssl/certs/ca-certificates.crt"
    assert built.protected_groups == ("CN=Tier0,OU=Groups,DC=example,DC=com",)
    assert built.recovery_email_attribute == "otherMailbox"
    assert (built.connect_timeout, built.receive_timeout) == (4.0, 4.0)


# --- result codes → typed errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (
            "0000052D: Constraint violation - check_password_restrictions: the password is too short.",
            "the password is too short",
        ),
        (
            "0000052D: Constraint violation - check_password_restrictions: the password does not meet the "
            "complexity criteria!",
            "the password does not meet the complexity rules",
        ),
        ("0000052D: ... password history ...", "the password was used recently"),
        ("Password is not being changed from existing value", "the password was used recently"),
        ("Password is in history of old passwords", "the password was used recently"),
        ("Password fails quality checking policy", "the password does not meet the quality rules"),
        ("Password is too young to change", "the password was changed too recently"),
        (
            "0000052D: AtrErr: DSID-03191083, #1:\n\t0: 0000052D: DSID-03191083, problem 1005",
            "the password does not meet the directory's length, complexity or history rules",
        ),
    ],
)
def test_policy_reasons_in_plain_words(message: str, reason: str) -> None:
    assert policy_reason(message).startswith(reason)


@pytest.mark.parametrize(
    ("code", "action", "password_change", "expected"),
    [
        (19, "reset password", True, PolicyViolation),
        (19, "set pwdReset", False, DirectoryError),
        (50, "reset password", True, NotPermitted),
        (53, "reset password", False, NotPermitted),
        (32, "read", False, NotFound),
        (16, "unlock", False, NotLocked),
        (51, "search", False, DirectoryUnavailable),
        (52, "search", False, DirectoryUnavailable),
        (8, "bind", False, DirectoryUnavailable),
        (80, "search", False, DirectoryError),
    ],
)
def test_result_codes_map_to_typed_errors(
    code: int, action: str, password_change: bool, expected: type[DirectoryError]
) -> None:
    error = error_for_result(
        {"result": code, "description": "x", "message": ""}, action, password_change=password_change
    )
    assert type(error) is expected


def test_windows_policy_error_under_rc_53_is_a_policy_violation() -> None:
    error = error_for_result(
        {"result": 53, "message": "0000052D: SvcErr"}, "reset password", password_change=True
    )
    assert isinstance(error, PolicyViolation)


def test_secret_is_scrubbed_from_any_server_message() -> None:
    error = error_for_result({"result": 80, "message": "echo Hunter-22 back"}, "reset", secret="Hunter-22")
    assert "Hunter-22" not in error.reason and "[redacted]" in error.reason


def test_service_account_bind_failures_make_the_directory_unavailable() -> None:
    assert "credentials" in bind_error({"result": 49, "message": "80090308: data 52e"}).reason
    assert isinstance(bind_error({"result": 50}), DirectoryUnavailable)


def test_exceptions_map_to_unavailable() -> None:
    certificate = error_for_exception(LDAPSocketOpenError("certificate verify failed"), "connect")
    assert "certificate" in certificate.reason
    timeout = error_for_exception(LDAPSocketReceiveError("error receiving data: timed out"), "search")
    assert "did not answer in time" in timeout.reason


# --- DNs --------------------------------------------------------------------------------------------------


def test_rdn_value_unescapes() -> None:
    assert rdn_value(r"CN=Doe\, John,OU=Staff,DC=x") == "Doe, John"
    assert rdn_value(r"cn=caf\c3\a9,dc=x") == "café"
    assert rdn_value(r"cn=a\\5c,dc=x") == "a\\5c"  # an escaped backslash, then the text "5c"


def test_dn_keys_ignore_case_spacing_and_escaping() -> None:
    assert dn_key("CN=Domain Admins, CN=Users,DC=Example,DC=test") == dn_key(
        "cn=domain admins,cn=users,dc=example,dc=test"
    )
    assert dn_key(r"cn=a\2cb,dc=x") == dn_key(r"cn=a\,b,dc=x")


def test_within_base() -> None:
    assert is_within("uid=a,ou=People,dc=example,dc=org", "ou=people, dc=example,dc=org")
    assert is_within("ou=people,dc=example,dc=org", "ou=people,dc=example,dc=org")
    assert not is_within("cn=bot,ou=services,dc=example,dc=org", "ou=people,dc=example,dc=org")
    assert not is_within("uid=a,ou=xpeople,dc=example,dc=org", "ou=people,dc=example,dc=org")


def test_domain_and_dn_recognition() -> None:
    assert domain_dn("OU=Staff,DC=example,DC=test") == "DC=example,DC=test"
    assert looks_like_dn("cn=vpn-users,ou=groups,dc=x")
    assert not looks_like_dn("vpn-users")
    assert not looks_like_dn("not a dn = really")
