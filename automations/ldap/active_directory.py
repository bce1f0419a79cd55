"""Active Directory (Windows or Samba AD DC) specifics: account bits, resets, unlocks, protected accounts.

Measured on Samba 4.17 (see the team's directory notes): a reset does NOT clear a lockout, so a reset of a
locked account unlocks it explicitly; `unlock_account` returns a truthy dict on failure, so only `is True`
counts; Samba never sets adminCount on new Domain Admins, so protection is decided here, not by the server.
"""

from __future__ import annotations

import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field

import structlog
from ldap3 import MODIFY_REPLACE
from ldap3.protocol.formatters.formatters import format_sid
from ldap3.utils.conv import escape_filter_chars

from automations.directory import AccountStatus, DirectoryError, NotFound, PasswordPolicy
from automations.ldap.config import LdapConfig
from automations.ldap.connection import Entry, Session
from automations.ldap.people import dn_key, domain_dn, rdn_value

log = structlog.get_logger(__name__)

UF_ACCOUNTDISABLE = 0x2
UF_LOCKOUT = 0x10  # in msDS-User-Account-Control-Computed; lockoutTime stays set after the lockout expires
DOMAIN_PASSWORD_COMPLEX = 0x1
IN_CHAIN = "1.2.840.113556.1.4.1941"  # LDAP_MATCHING_RULE_IN_CHAIN: nested membership, evaluated by the DC

# LDAP_SERVER_POLICY_HINTS: makes Windows (2012+) apply password history to a reset too. Sent non-critical
# because Samba 4.17 does not know it (rc 12 when critical) and simply ignores it otherwise.
POLICY_HINTS = ("1.2.840.113556.1.4.2239", False, b"\x30\x03\x02\x01\x01")

# Groups whose members are never reset or unlocked by the bot: the AdminSDHolder-protected groups. Built-in
# ones have fixed SIDs; domain ones are the domain SID plus a fixed RID. Resolving them by SID (not by name)
# survives renamed and localised groups ("Domänen-Admins").
BUILTIN_PROTECTED_SIDS = {
    "S-1-5-32-544": "Administrators",
    "S-1-5-32-548": "Account Operators",
    "S-1-5-32-549": "Server Operators",
    "S-1-5-32-550": "Print Operators",
    "S-1-5-32-551": "Backup Operators",
    "S-1-5-32-552": "Replicator",
}
DOMAIN_PROTECTED_RIDS = {
    512: "Domain Admins",
    516: "Domain Controllers",
    518: "Schema Admins",
    519: "Enterprise Admins",
    521: "Read-only Domain Controllers",
}
PROTECTED_CACHE_SECONDS = 600

STATUS_ATTRIBUTES = [
    "userAccountControl",
    "msDS-User-Account-Control-Computed",  # constructed: only returned by base-scope reads
    "adminCount",
    "tokenGroups",  # constructed: every nested security group's SID, including the primary group
]
POLICY_ATTRIBUTES = ["minPwdLength", "pwdProperties", "pwdHistoryLength"]


@dataclass(frozen=True)
class ProtectedGroups:
    """Protected groups by SID (matched against tokenGroups) and by DN key (matched in-chain).

    `problem` is set when the list is incomplete (the domain SID was unreadable): then every account
    counts as protected, because a reset we cannot prove safe must not happen (fail closed).
    """

    by_sid: dict[str, str] = field(default_factory=dict)
    by_dn: dict[str, str] = field(default_factory=dict)
    problem: str = ""


class ActiveDirectory:
    name = "active_directory"
    reset_keeps_lockout = True  # measured on Samba 4.17: a reset leaves the lockout in place

    def __init__(self, config: LdapConfig) -> None:
        self._config = config
        self._domain = domain_dn(config.base_dn)
        self.group_base = config.group_base_dn or self._domain
        self._protected: ProtectedGroups | None = None
        self._protected_at = 0.0
        self._protected_lock = threading.Lock()

    def member_filter(self, group_dn: str) -> str:
        """People who are members of the group, directly or through nested groups."""
        return f"(memberOf:{IN_CHAIN}:={escape_filter_chars(group_dn)})"

    def is_member(self, session: Session, dn: str, group_dn: str) -> bool:
        return session.read(dn, ["objectClass"], self.member_filter(group_dn)) is not None

    def account_status(self, session: Session, dn: str) -> AccountStatus:
        entry = session.read(dn, STATUS_ATTRIBUTES, self._config.person_filter)
        if entry is None:
            return AccountStatus(exists=False)
        uac = entry.number("userAccountControl")
        computed = entry.number("msDS-User-Account-Control-Computed")
        reason = self._protected_reason(session, entry)
        return AccountStatus(
            exists=True,
            disabled=bool(uac & UF_ACCOUNTDISABLE),
            locked=bool(computed & UF_LOCKOUT),
            protected=bool(reason),
            protected_reason=reason,
        )

    def decoy_status_read(self, session: Session, dn: str) -> None:
        """The same reads as account_status for an entry that does not exist (see Directory)."""
        session.read(dn, STATUS_ATTRIBUTES, self._config.person_filter)
        # The server may refuse a member filter naming no entry: fine, it is a decoy.
        with suppress(DirectoryError):
            self._in_chain_reason(session, dn, self._protected_groups(session))

    def password_policy(self, session: Session) -> PasswordPolicy:
        domain = session.read(self._domain, POLICY_ATTRIBUTES)
        if domain is None:
            return PasswordPolicy(extra={"source": "defaults (domain object unreadable)"})
        complex_ = bool(domain.number("pwdProperties") & DOMAIN_PASSWORD_COMPLEX)
        return PasswordPolicy(
            min_length=domain.number("minPwdLength"),
            require_classes=3 if complex_ else 1,
            history=domain.number("pwdHistoryLength"),
            extra={"source": self._domain, "complexity": "on" if complex_ else "off"},
        )

    def set_password(self, session: Session, dn: str, password: str) -> None:
        done = session.conn.extend.microsoft.modify_password(dn, password, controls=[POLICY_HINTS])
        session.check(done, "reset password", password_change=True, secret=password)

    def require_change(self, session: Session, dn: str, must_change: bool) -> None:
        # pwdLastSet=0 forces a change at next logon (bind then fails with "data 773"); -1 means "now".
        session.modify(
            dn, {"pwdLastSet": [(MODIFY_REPLACE, ["0" if must_change else "-1"])]}, "set pwdLastSet"
        )

    def unlock(self, session: Session, dn: str) -> None:
        session.check(session.conn.extend.microsoft.unlock_account(dn), "unlock")

    def _protected_reason(self, session: Session, entry: Entry) -> str:
        if entry.first("adminCount") == "1":
            return "adminCount=1 (a privileged account)"
        protected = self._protected_groups(session)
        if protected.problem:
            return f"the privileged groups could not be resolved ({protected.problem}); refused to be safe"
        token_groups = entry.raw.get("tokenGroups") or []
        if not token_groups:  # every account has at least its primary group: none means "not readable"
            return "the account's group memberships (tokenGroups) could not be read; refused to be safe"
        # tokenGroups also covers the primary group (primaryGroupID), which member/memberOf never show.
        for raw_sid in token_groups:
            name = protected.by_sid.get(format_sid(raw_sid))
            if name:
                return f"member of {name}"
        return self._in_chain_reason(session, entry.dn, protected)

    def _in_chain_reason(self, session: Session, dn: str, protected: ProtectedGroups) -> str:
        """In-chain search catches what tokenGroups cannot: distribution groups among the configured ones."""
        in_chain = f"(&(objectClass=group)(member:{IN_CHAIN}:={escape_filter_chars(dn)}))"
        for group in session.paged_search(self._domain, in_chain, ["cn"]):
            name = protected.by_dn.get(dn_key(group.dn))
            if name:
                return f"member of {name}"
        return ""

    def _protected_groups(self, session: Session) -> ProtectedGroups:
        with self._protected_lock:
            if self._protected is None or time.monotonic() - self._protected_at > PROTECTED_CACHE_SECONDS:
                resolved = self._resolve_protected(session)
                if resolved.problem:  # not cached: the next account check tries again
                    return resolved
                self._protected = resolved
                self._protected_at = time.monotonic()
            return self._protected

    def _resolve_protected(self, session: Session) -> ProtectedGroups:
        """Built-in admin groups by well-known SID, plus the configured ones by DN."""
        by_sid = dict(BUILTIN_PROTECTED_SIDS)
        domain = session.read(self._domain, ["objectSid"])
        raw_sid = (domain.raw.get("objectSid") or [b""])[0] if domain else b""
        problem = ""
        if raw_sid:
            domain_sid = format_sid(raw_sid)
            by_sid |= {f"{domain_sid}-{rid}": name for rid, name in DOMAIN_PROTECTED_RIDS.items()}
        else:
            # Without it Domain Admins & co. cannot be recognised: refuse every reset until it can be read.
            problem = f"the domain SID of {self._domain} is unreadable"
            log.error("ad_domain_sid_unreadable", domain=self._domain, detail="refusing resets and unlocks")
        sid_filter = "".join(f"(objectSid={sid})" for sid in by_sid)
        found = session.search(self._domain, f"(&(objectClass=group)(|{sid_filter}))", ["cn", "objectSid"])
        by_dn = {dn_key(group.dn): rdn_value(group.dn) for group in found}
        for configured in self._config.protected_groups:
            group = _read_quietly(session, configured)
            if group is None:
                log.warning("protected_group_not_found", group=configured)
            elif group.raw.get("objectSid"):
                by_sid[format_sid(group.raw["objectSid"][0])] = rdn_value(configured)
            by_dn[dn_key(configured)] = rdn_value(configured)  # kept even if missing now: fail closed
        return ProtectedGroups(by_sid=by_sid, by_dn=by_dn, problem=problem)


def _read_quietly(session: Session, dn: str) -> Entry | None:
    try:
        return session.read(dn, ["objectSid"])
    except NotFound:  # a malformed DN (rc 34): treat like a missing group
        return None
