"""OpenLDAP (slapd with the ppolicy and memberof overlays) specifics.

Measured on slapd 2.5 (see the team's directory notes):
- The bot resets with the RFC 3062 Password Modify operation as a plain writer (`=w` on userPassword), so
  ppolicy checks the new password, and the bot sets `pwdReset: TRUE` itself for "change at next logon"
  (a writer's reset clears an earlier pwdReset). While pwdReset is TRUE the user can bind but every other
  operation gets rc 50, until they change the password themselves.
- Locked = `pwdAccountLockedTime` present. Unlock = delete it (rc 16 when there is none).
- Disabled: OpenLDAP has no "account disabled" flag. We use ppolicy's own convention: the value
  `000001010000Z` means "permanently locked by an administrator" and binds fail. Because a password reset
  or an unlock would clear it and so re-enable the account, the backend refuses both for disabled accounts.
"""

from __future__ import annotations

import structlog
from ldap3 import MODIFY_DELETE, MODIFY_REPLACE
from ldap3.utils.conv import escape_filter_chars

from automations.directory import AccountStatus, PasswordPolicy
from automations.ldap.config import LdapConfig
from automations.ldap.connection import Entry, Session
from automations.ldap.people import dn_key, domain_dn, rdn_value

log = structlog.get_logger(__name__)

PERMANENTLY_LOCKED = "000001010000Z"
GROUP_FILTER = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))"
MAX_NESTING = 10  # group-in-group levels followed; stops cycles and runaway trees
POLICY_ATTRIBUTES = ["pwdMinLength", "pwdInHistory", "pwdCheckQuality"]


class OpenLdap:
    name = "openldap"
    reset_keeps_lockout = False  # a Password Modify also deletes pwdAccountLockedTime

    def __init__(self, config: LdapConfig) -> None:
        self._config = config
        self._suffix = domain_dn(config.base_dn)
        self.group_base = config.group_base_dn or self._suffix
        self._protected = {dn_key(group): rdn_value(group) for group in config.protected_groups}
        if not self._protected:
            log.warning(
                "openldap_no_protected_groups",
                detail="FRONTDESK_PROTECTED_GROUPS is empty: no account is protected from resets by group",
            )

    def member_filter(self, group_dn: str) -> str:
        """Direct members, as maintained by the memberof overlay."""
        return f"(memberOf={escape_filter_chars(group_dn)})"

    def is_member(self, session: Session, dn: str, group_dn: str) -> bool:
        return dn_key(group_dn) in self._nested_groups(session, dn)

    def account_status(self, session: Session, dn: str) -> AccountStatus:
        # pwdAccountLockedTime is operational: it is only returned when asked for by name.
        entry = session.read(dn, ["pwdAccountLockedTime"], self._config.person_filter)
        if entry is None:
            return AccountStatus(exists=False)
        locked_time = entry.first("pwdAccountLockedTime")
        reason = self._protected_reason(session, entry)
        return AccountStatus(
            exists=True,
            disabled=locked_time == PERMANENTLY_LOCKED,
            locked=bool(locked_time) and locked_time != PERMANENTLY_LOCKED,
            protected=bool(reason),
            protected_reason=reason,
        )

    def decoy_status_read(self, session: Session, dn: str) -> None:
        """The same reads as account_status for an entry that does not exist (see Directory)."""
        session.read(dn, ["pwdAccountLockedTime"], self._config.person_filter)
        if self._protected:
            self._nested_groups(session, dn)

    def password_policy(self, session: Session) -> PasswordPolicy:
        policy = self._policy_entry(session)
        if policy is None:
            return PasswordPolicy(extra={"source": "defaults (no readable pwdPolicy entry)"})
        return PasswordPolicy(
            min_length=policy.number("pwdMinLength"),
            # ppolicy alone checks only the length; a pwdCheckModule may add more, which we cannot see.
            require_classes=1,
            history=policy.number("pwdInHistory"),
            extra={"source": policy.dn},
        )

    def set_password(self, session: Session, dn: str, password: str) -> None:
        done = session.conn.extend.standard.modify_password(user=dn, new_password=password)
        session.check(done, "reset password", password_change=True, secret=password)

    def require_change(self, session: Session, dn: str, must_change: bool) -> None:
        # The reset itself cleared pwdReset (a writer's reset does), so "no change needed" is nothing to do.
        if must_change:
            session.modify(dn, {"pwdReset": [(MODIFY_REPLACE, ["TRUE"])]}, "set pwdReset")

    def unlock(self, session: Session, dn: str) -> None:
        session.modify(dn, {"pwdAccountLockedTime": [(MODIFY_DELETE, [])]}, "unlock")

    def _protected_reason(self, session: Session, entry: Entry) -> str:
        if not self._protected:
            return ""
        for key in self._nested_groups(session, entry.dn):
            if key in self._protected:
                return f"member of {self._protected[key]}"
        return ""

    def _nested_groups(self, session: Session, dn: str) -> dict[str, str]:
        """Every group `dn` belongs to, following groups inside groups: {dn key: name}.

        Walks `member`/`uniqueMember` upwards one level per search, so it does not depend on the memberof
        overlay (which does not follow nesting) being configured.
        """
        seen: dict[str, str] = {}
        frontier = [dn]
        for _ in range(MAX_NESTING):
            members = "".join(
                f"(member={escape_filter_chars(d)})(uniqueMember={escape_filter_chars(d)})" for d in frontier
            )
            found = session.search(self.group_base, f"(&{GROUP_FILTER}(|{members}))", ["cn"])
            new = [group for group in found if dn_key(group.dn) not in seen]
            if not new:
                break
            seen |= {dn_key(group.dn): rdn_value(group.dn) for group in new}
            frontier = [group.dn for group in new]
        return seen

    def _policy_entry(self, session: Session) -> Entry | None:
        if self._config.password_policy_dn:
            return session.read(self._config.password_policy_dn, POLICY_ATTRIBUTES, "(objectClass=pwdPolicy)")
        # The default policy's DN lives in cn=config, which the bot cannot read: find the entry instead.
        found = session.search(self._suffix, "(objectClass=pwdPolicy)", ["cn", *POLICY_ATTRIBUTES])
        if len(found) == 1:
            return found[0]
        defaults = [entry for entry in found if entry.first("cn").lower() == "default"]
        return defaults[0] if len(defaults) == 1 else None
