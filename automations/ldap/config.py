"""How to reach and read the directory: one plain dataclass, checked when it is built.

The URL decides the transport and there is no clear-text mode: `ldaps://` speaks TLS from the first byte,
`ldap://` upgrades with StartTLS before the bind. The server certificate is validated unless `tls_verify`
is switched off explicitly (which logs a warning every time a directory is built from it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

Flavor = Literal["ad", "openldap"]

# The attribute AD deployments commonly use for a private/recovery mailbox; our OpenLDAP test schema allows
# the same attribute (cosine's otherMailbox) through a small auxiliary class, so one default fits both.
DEFAULT_RECOVERY_EMAIL_ATTRIBUTE = "otherMailbox"

DEFAULT_USER_FILTERS: dict[str, str] = {
    "ad": "(&(objectCategory=person)(objectClass=user))",
    "openldap": "(objectClass=inetOrgPerson)",
}


class LdapConfigError(ValueError):
    """The configuration cannot work; the message names the field."""


@dataclass(frozen=True)
class LdapConfig:
    url: str
    bind_dn: str
    bind_password: str = field(repr=False)
    base_dn: str
    flavor: Flavor = "openldap"
    ca_file: str | None = None
    # Extra names the server certificate may carry besides the URL's host (e.g. the DC's FQDN when the
    # URL uses an IP address).
    valid_names: tuple[str, ...] = ()
    tls_verify: bool = True
    # Replaces the flavor's default person filter; trusted configuration, never user input.
    user_filter: str = ""
    # Where groups are looked up by name; default: the domain root for AD (built-in groups live in
    # CN=Builtin), base_dn for OpenLDAP.
    group_base_dn: str = ""
    # Accounts in these groups (nested) are never reset or unlocked. AD's built-in admin groups are
    # always added; see active_directory.py.
    protected_groups: tuple[str, ...] = ()
    recovery_email_attribute: str = DEFAULT_RECOVERY_EMAIL_ATTRIBUTE
    # OpenLDAP only: the ppolicy entry to read the password rules from (default: search for one).
    password_policy_dn: str = ""
    connect_timeout: float = 5.0
    receive_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.flavor not in DEFAULT_USER_FILTERS:
            raise LdapConfigError(f"flavor: expected 'ad' or 'openldap', got {self.flavor!r}")
        if urlsplit(self.url).scheme.lower() not in ("ldap", "ldaps") or not urlsplit(self.url).hostname:
            raise LdapConfigError(
                f"url: expected ldap://host[:port] or ldaps://host[:port], got {self.url!r}"
            )
        for name in ("bind_dn", "bind_password", "base_dn"):
            if not getattr(self, name):
                raise LdapConfigError(f"{name}: must not be empty")
        if self.user_filter and not (self.user_filter.startswith("(") and self.user_filter.endswith(")")):
            raise LdapConfigError(
                "user_filter: must be a parenthesised LDAP filter such as (objectClass=person)"
            )
        if self.ca_file and not os.path.isfile(self.ca_file):
            raise LdapConfigError(f"ca_file: no such file: {self.ca_file}")
        for group in self.protected_groups:
            if "=" not in group:
                raise LdapConfigError(f"protected_groups: {group!r} is not a DN (e.g. cn=admins,ou=groups,…)")
        if self.connect_timeout <= 0 or self.receive_timeout <= 0:
            raise LdapConfigError("connect_timeout/receive_timeout: must be positive")

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def use_ldaps(self) -> bool:
        return urlsplit(self.url).scheme.lower() == "ldaps"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or (636 if self.use_ldaps else 389)

    @property
    def person_filter(self) -> str:
        return self.user_filter or DEFAULT_USER_FILTERS[self.flavor]


def config_from_settings(settings: Any) -> LdapConfig:
    """Build the config from frontdesk's `Settings` (FRONTDESK_LDAP_* variables).

    Typed as Any so the automations layer does not import the bot's settings module.
    """
    password = settings.ldap_bind_password
    return LdapConfig(
        url=settings.ldap_url,
        bind_dn=settings.ldap_bind_dn,
        bind_password=password.get_secret_value() if hasattr(password, "get_secret_value") else str(password),
        base_dn=settings.ldap_base_dn,
        flavor=settings.ldap_flavor,
        ca_file=str(settings.ldap_ca_file) if settings.ldap_ca_file else None,
        valid_names=(settings.ldap_tls_server_name,) if settings.ldap_tls_server_name else (),
        user_filter=settings.ldap_user_filter,
        protected_groups=tuple(settings.protected_groups),
        recovery_email_attribute=settings.recovery_email_attribute or DEFAULT_RECOVERY_EMAIL_ATTRIBUTE,
        connect_timeout=settings.ldap_timeout_seconds,
        receive_timeout=settings.ldap_timeout_seconds,
    )
