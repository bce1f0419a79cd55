"""Directory entries → `DirectoryPerson`, and the DN helpers both flavors share."""

from __future__ import annotations

import re

from ldap3.core.exceptions import LDAPInvalidDnError
from ldap3.utils.dn import parse_dn

from automations.directory import DirectoryPerson
from automations.ldap.config import LdapConfig
from automations.ldap.connection import Entry

# What each flavor calls the account name and the department; both are read, the first non-empty wins.
USERNAME_ATTRIBUTES = ("sAMAccountName", "uid")
NAME_ATTRIBUTES = ("displayName", "cn")
DEPARTMENT_ATTRIBUTES = ("department", "departmentNumber")
LOCATION_ATTRIBUTES = ("l", "physicalDeliveryOfficeName")

_HEX_PAIR = re.compile(r"[0-9a-fA-F]{2}")


def person_attributes(config: LdapConfig) -> list[str]:
    """Everything `to_person` reads, plus the recovery mailbox the configuration names."""
    names = [
        "mail",
        "title",
        "manager",
        "memberOf",
        *USERNAME_ATTRIBUTES,
        *NAME_ATTRIBUTES,
        *DEPARTMENT_ATTRIBUTES,
        *LOCATION_ATTRIBUTES,
    ]
    if config.recovery_email_attribute and config.recovery_email_attribute not in names:
        names.append(config.recovery_email_attribute)
    if config.flavor == "openldap":
        names.remove("sAMAccountName")
        names.remove("department")
    else:
        names.remove("uid")
        names.remove("departmentNumber")
    return names


def to_person(entry: Entry, config: LdapConfig, manager_email: str | None) -> DirectoryPerson:
    email = entry.first("mail").strip().lower()
    recovery = entry.first(config.recovery_email_attribute).strip() if config.recovery_email_attribute else ""
    return DirectoryPerson(
        id=entry.dn,
        email=email,
        name=_first_of(entry, NAME_ATTRIBUTES) or email,
        title=entry.first("title"),
        department=_first_of(entry, DEPARTMENT_ATTRIBUTES),
        location=_first_of(entry, LOCATION_ATTRIBUTES),
        manager_email=manager_email,
        groups=tuple(sorted({rdn_value(dn) for dn in entry.values("memberOf")}, key=str.lower)),
        recovery_email=recovery or None,
        username=_first_of(entry, USERNAME_ATTRIBUTES),
    )


def _first_of(entry: Entry, names: tuple[str, ...]) -> str:
    for name in names:
        value = entry.first(name).strip()
        if value:
            return value
    return ""


def _parts(dn: str) -> list[tuple[str, str]]:
    """(attribute, unescaped value) pairs; raises LDAPInvalidDnError for something that is not a DN."""
    return [(attribute, _unescape(value)) for attribute, value, _ in parse_dn(dn, strip=True)]


def rdn_value(dn: str) -> str:
    """`CN=Domain Admins,CN=Users,…` → `Domain Admins` (a group's display name)."""
    try:
        return _parts(dn)[0][1]
    except (LDAPInvalidDnError, IndexError):
        return dn


def dn_key(dn: str) -> str:
    """A DN normalised for comparison: case, spacing and escaping differ between servers and configs."""
    try:
        return ",".join(f"{attribute.lower()}={value.lower()}" for attribute, value in _parts(dn))
    except LDAPInvalidDnError:
        return dn.strip().lower()


def looks_like_dn(text: str) -> bool:
    try:
        return "=" in text and bool(_parts(text))
    except LDAPInvalidDnError:
        return False


def is_within(dn: str, base_dn: str) -> bool:
    """True when `dn` is `base_dn` or below it."""
    entry, base = dn_key(dn), dn_key(base_dn)
    return entry == base or entry.endswith("," + base)


def domain_dn(dn: str) -> str:
    """The DC=… tail of a DN: the AD domain (naming context) an entry or search base belongs to."""
    try:
        parts = parse_dn(dn, strip=True)
    except LDAPInvalidDnError:
        return dn
    tail = [f"{attribute}={value}" for attribute, value, _ in parts if attribute.lower() == "dc"]
    return ",".join(tail) or dn


def _unescape(value: str) -> str:
    """RFC 4514 value escaping, one pass: `\\,` → `,`; `\\5c` → `\\` (hex pairs are UTF-8 bytes)."""
    if "\\" not in value:
        return value
    out = bytearray()
    index = 0
    while index < len(value):
        pair = value[index + 1 : index + 3]
        if value[index] == "\\" and _HEX_PAIR.fullmatch(pair):
            out.append(int(pair, 16))
            index += 3
        elif value[index] == "\\" and index + 1 < len(value):
            out += value[index + 1].encode()
            index += 2
        else:
            out += value[index].encode()
            index += 1
    return out.decode("utf-8", errors="replace")
