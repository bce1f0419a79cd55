"""`LdapDirectory`: frontdesk's `Directory` over ldap3, for Active Directory and OpenLDAP.

The shared parts live here (finding people, groups, the checks before any write); what differs between the
two servers lives in active_directory.py and openldap.py behind the small `Flavor` protocol.

Rules kept everywhere: every value put into a filter goes through `escape_filter_chars`; writes act only on
the DN a search returned, inside base_dn; an account that is protected, disabled or gone is refused before
anything is written; the new password appears in no log line and no error message. A reset is two writes
(the password, then must-change and unlock): when the second fails the first has happened, which callers
learn as `PartiallyApplied`, never as "nothing changed".
"""

from __future__ import annotations

import time
import uuid
from typing import Protocol

import structlog
from ldap3 import MODIFY_ADD, MODIFY_DELETE
from ldap3.utils.conv import escape_filter_chars

from automations.directory import (
    AccountStatus,
    DirectoryError,
    DirectoryPerson,
    NotFound,
    NotLocked,
    PartiallyApplied,
    PasswordPolicy,
    PolicyViolation,
    refused_protected_group,
    writable,
)
from automations.ldap import errors
from automations.ldap.active_directory import (
    BUILTIN_PROTECTED_SIDS,
    DOMAIN_PROTECTED_RIDS,
    ActiveDirectory,
)
from automations.ldap.config import LdapConfig
from automations.ldap.connection import Entry, LdapConnection, Session
from automations.ldap.openldap import OpenLdap
from automations.ldap.people import (
    dn_key,
    is_within,
    looks_like_dn,
    person_attributes,
    rdn_value,
    to_person,
)

log = structlog.get_logger(__name__)

GROUP_FILTER = "(|(objectClass=group)(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))"
# The privileged groups of AD by name, refused for membership changes whatever the catalogue says.
PRIVILEGED_GROUP_NAMES = {
    name.lower() for name in (*BUILTIN_PROTECTED_SIDS.values(), *DOMAIN_PROTECTED_RIDS.values())
}
MAX_EMAIL_LENGTH = 254  # RFC 5321 path limit; anything longer cannot be a real address


class Flavor(Protocol):
    name: str
    group_base: str
    reset_keeps_lockout: bool  # True: a locked account needs an explicit unlock after a reset

    def member_filter(self, group_dn: str) -> str: ...

    def is_member(self, session: Session, dn: str, group_dn: str) -> bool: ...

    def account_status(self, session: Session, dn: str) -> AccountStatus: ...

    def decoy_status_read(self, session: Session, dn: str) -> None: ...

    def password_policy(self, session: Session) -> PasswordPolicy: ...

    def set_password(self, session: Session, dn: str, password: str) -> None: ...

    def require_change(self, session: Session, dn: str, must_change: bool) -> None:
        """Set (or, with False, clear) "must change the password at next logon"."""
        ...

    def unlock(self, session: Session, dn: str) -> None: ...


class LdapDirectory:
    """The company directory over LDAP. Thread-safe: one connection, used under a lock."""

    def __init__(self, config: LdapConfig) -> None:
        self.config = config
        self._flavor: Flavor = ActiveDirectory(config) if config.flavor == "ad" else OpenLdap(config)
        self.name = self._flavor.name
        self._connection = LdapConnection(config)
        self._attributes = person_attributes(config)
        self._missing_groups: set[str] = set()  # warned about once, not on every message
        if not config.tls_verify:
            log.warning(
                "ldap_tls_not_verified", detail="the directory's certificate is NOT checked", url=config.url
            )

    def close(self) -> None:
        self._connection.close()

    # --- reading people and groups -------------------------------------------------------------------

    def find_by_email(self, email: str) -> DirectoryPerson | None:
        """The one person whose `mail` is `email`; None when nobody or several match."""
        email = email.strip()
        if not email or len(email) > MAX_EMAIL_LENGTH:
            return None
        search_filter = f"(&{self.config.person_filter}(mail={escape_filter_chars(email)}))"
        return self._connection.read("find by email", lambda session: self._find_one(session, search_filter))

    def get(self, person_id: str) -> DirectoryPerson | None:
        if not self._is_ours(person_id):
            return None

        def read(session: Session) -> DirectoryPerson | None:
            entry = session.read(person_id, self._attributes, self.config.person_filter)
            return self._person(session, entry, {}) if entry else None

        return self._connection.read("read person", read)

    def group_members(self, group: str) -> list[DirectoryPerson]:
        def read(session: Session) -> list[DirectoryPerson]:
            group_dn = self._group_dn(session, group)
            if group_dn is None:
                return []
            search_filter = f"(&{self.config.person_filter}{self._flavor.member_filter(group_dn)})"
            entries = session.paged_search(self.config.base_dn, search_filter, self._attributes)
            managers: dict[str, str | None] = {}
            return [self._person(session, entry, managers) for entry in entries]

        return self._connection.read("list group members", read)

    def is_member(self, person: DirectoryPerson, group: str) -> bool:
        if not self._is_ours(person.id):
            return False

        def read(session: Session) -> bool:
            group_dn = self._group_dn(session, group)
            return group_dn is not None and self._flavor.is_member(session, person.id, group_dn)

        return self._connection.read("check group membership", read)

    # --- group membership (access grants) -------------------------------------------------------------

    def add_member(self, person: DirectoryPerson, group: str) -> bool:
        """One MODIFY_ADD of `member` on the group; "already a member" (OpenLDAP rc 20, AD rc 68) is done."""
        dn = self._member_dn(person)

        def write(session: Session) -> bool:
            group_dn = self._writable_group(session, group)
            if session.conn.modify(group_dn, {"member": [(MODIFY_ADD, [dn])]}):
                return True
            code = errors.result_code(session.conn.result)
            if code in (errors.ATTRIBUTE_OR_VALUE_EXISTS, errors.ENTRY_ALREADY_EXISTS):
                return False
            if self._direct_member(session, dn, group_dn):  # a server that words "already" differently
                return False
            raise errors.error_for_result(session.conn.result, "add group member")

        added = self._connection.write("add group member", write)
        log.info("directory_member_added", dn=dn, group=group, added=added)
        return added

    def remove_member(self, person: DirectoryPerson, group: str) -> bool:
        """One MODIFY_DELETE of `member`; "not a member" (OpenLDAP rc 16; AD may say rc 53) is done."""
        dn = self._member_dn(person)

        def write(session: Session) -> bool:
            group_dn = self._writable_group(session, group)
            if session.conn.modify(group_dn, {"member": [(MODIFY_DELETE, [dn])]}):
                return True
            result = session.conn.result
            if errors.result_code(result) == errors.OBJECT_CLASS_VIOLATION:
                raise DirectoryError(
                    f"remove group member: rc 65: {rdn_value(group_dn)} would be left without members "
                    "(groupOfNames needs one)"
                )
            if not self._direct_member(session, dn, group_dn):  # rc 16 / rc 53: it was not there
                return False
            raise errors.error_for_result(result, "remove group member")

        removed = self._connection.write("remove group member", write)
        log.info("directory_member_removed", dn=dn, group=group, removed=removed)
        return removed

    def _member_dn(self, person: DirectoryPerson) -> str:
        if not self._is_ours(person.id):
            raise NotFound("the account is not in the directory the bot manages")
        return person.id

    def _writable_group(self, session: Session, group: str) -> str:
        group_dn = self._group_dn(session, group)
        if group_dn is None:
            raise NotFound(f"no single group {group!r} in the directory")
        protected = {dn_key(dn) for dn in self.config.protected_groups}
        if dn_key(group_dn) in protected or rdn_value(group_dn).lower() in PRIVILEGED_GROUP_NAMES:
            log.warning("directory_refused_protected_group", group=group_dn)
            raise refused_protected_group(group_dn)
        return group_dn

    def _direct_member(self, session: Session, dn: str, group_dn: str) -> bool:
        return session.read(group_dn, ["cn"], f"(member={escape_filter_chars(dn)})") is not None

    # --- account state and changes -------------------------------------------------------------------

    def account_status(self, person: DirectoryPerson) -> AccountStatus:
        if not self._is_ours(person.id):
            return AccountStatus(exists=False)
        return self._connection.read(
            "read account status", lambda session: self._flavor.account_status(session, person.id)
        )

    def decoy_status_read(self) -> None:
        """The reads of `account_status`, aimed at an entry that cannot exist (a random RDN in base_dn)."""
        dn = f"cn=frontdesk-decoy-{uuid.uuid4().hex},{self.config.base_dn}"
        self._connection.read("read account status", lambda s: self._flavor.decoy_status_read(s, dn))

    def password_policy(self) -> PasswordPolicy:
        return self._connection.read("read password policy", self._flavor.password_policy)

    def reset_password(self, person: DirectoryPerson, new_password: str, *, must_change: bool = True) -> None:
        """Set `new_password`, require a change at next logon (unless told not to) and clear any lockout.

        Two writes: if the second fails, the password has changed all the same → PartiallyApplied.
        """
        if not new_password:
            raise PolicyViolation("the password is empty")
        started = time.monotonic()
        status = writable(self.account_status(person), person.id, "reset the password of")
        self._connection.write(
            "reset password", lambda session: self._flavor.set_password(session, person.id, new_password)
        )
        # From here on the password HAS changed: every later step is tried, and failures are reported
        # as unfinished work, never as a failed reset.
        problems: dict[str, str] = {}
        try:
            self._connection.write(
                "require a password change",
                lambda session: self._flavor.require_change(session, person.id, must_change),
            )
        except DirectoryError as error:
            problems["must_change"] = error.reason
        if status.locked and self._flavor.reset_keeps_lockout:
            try:
                self._connection.write("unlock", lambda session: self._flavor.unlock(session, person.id))
            except DirectoryError as error:
                problems["unlock"] = error.reason
        if problems:
            log.error("directory_reset_partial", dn=person.id, unfinished=problems)
            raise PartiallyApplied(
                "the password was changed, but: " + "; ".join(problems.values()), unfinished=tuple(problems)
            )
        log.info(
            "directory_password_reset",
            dn=person.id,
            must_change=must_change,
            was_locked=status.locked,
            ms=round((time.monotonic() - started) * 1000, 1),
        )

    def unlock(self, person: DirectoryPerson) -> None:
        status = writable(self.account_status(person), person.id, "unlock")
        if not status.locked:
            raise NotLocked()
        self._connection.write("unlock", lambda session: self._flavor.unlock(session, person.id))
        log.info("directory_account_unlocked", dn=person.id)

    # --- helpers -------------------------------------------------------------------------------------

    def _find_one(self, session: Session, search_filter: str) -> DirectoryPerson | None:
        # size_limit=2: enough to tell "exactly one" from "several" without reading them all.
        found = session.search(self.config.base_dn, search_filter, self._attributes, size_limit=2)
        if len(found) > 1:
            log.warning("directory_email_ambiguous", matches=[entry.dn for entry in found])
            return None
        return self._person(session, found[0], {}) if found else None

    def _person(self, session: Session, entry: Entry, managers: dict[str, str | None]) -> DirectoryPerson:
        manager_dn = entry.first("manager")
        if manager_dn and manager_dn not in managers:
            manager = session.read(manager_dn, ["mail"])
            mail = manager.first("mail").strip().lower() if manager else ""
            managers[manager_dn] = mail or None
        return to_person(entry, self.config, managers.get(manager_dn) if manager_dn else None)

    def _group_dn(self, session: Session, group: str) -> str | None:
        """A group given by DN or by name (cn) → its DN, when exactly one group matches."""
        if looks_like_dn(group):
            entry = session.read(group, ["cn"], GROUP_FILTER)
            found = [entry] if entry else []
        else:
            search_filter = f"(&{GROUP_FILTER}(cn={escape_filter_chars(group)}))"
            found = session.search(self._flavor.group_base, search_filter, ["cn"], size_limit=2)
        if len(found) != 1:
            if group not in self._missing_groups:
                self._missing_groups.add(group)
                log.warning("directory_group_not_found", group=group, matches=len(found))
            return None
        return found[0].dn

    def _is_ours(self, dn: str) -> bool:
        """Only DNs under base_dn are read or written: a forged id cannot point the bot elsewhere."""
        return bool(dn) and looks_like_dn(dn) and is_within(dn, self.config.base_dn)
