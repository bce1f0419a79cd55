"""`EntraDirectory`: frontdesk's `Directory` over Microsoft Graph, for Microsoft Entra ID.

People are found by `mail` or `userPrincipalName` and kept by object id. A reset is two calls: PATCH the
`passwordProfile` (with forceChangePasswordNextSignIn), then revokeSignInSessions so that whoever held the
old password loses their sessions too; when the second fails the first has happened, which callers learn as
`PartiallyApplied`. Graph has no unlock (smart lockout ends by itself): `unlock` says so, and the account
flow offers a reset or a ticket instead.

Refused before any write, in the ldap3 backend's words: holders of a directory role (the app's Helpdesk
Administrator role cannot reset them anyway), members of role-assignable groups and of the configured
protected groups (FRONTDESK_PROTECTED_GROUPS: object ids or display names), guests, disabled accounts, and
accounts synced from on-premises Active Directory (their password lives in AD: reset it there).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import structlog

from automations.directory import (
    AccountStatus,
    DirectoryError,
    DirectoryPerson,
    NotFound,
    NotPermitted,
    PartiallyApplied,
    PasswordPolicy,
    PolicyViolation,
    UnlockUnsupported,
    refused_protected_group,
    writable,
)
from automations.entra.graph import GraphClient, GraphError, GraphNotFound

log = structlog.get_logger(__name__)

USER_FIELDS = (
    "id,displayName,mail,userPrincipalName,jobTitle,department,officeLocation,accountEnabled,"
    "onPremisesSyncEnabled,userType,otherMails"
)
MEMBERSHIP_FIELDS = "id,displayName,isAssignableToRole"
DIRECTORY_ROLE = "#microsoft.graph.directoryRole"
GROUP = "#microsoft.graph.group"
MAX_EMAIL_LENGTH = 254
_OBJECT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
SYNCED_REASON = "synced from on-premises Active Directory: reset in Active Directory"
# Entra ID's cloud password rules: 8-256 characters, 3 of the 4 classes. Our generator's floor is higher.
ENTRA_POLICY = PasswordPolicy(min_length=8, require_classes=3, extra={"source": "Entra ID defaults"})


@dataclass(frozen=True)
class Group:
    id: str
    name: str
    role_assignable: bool = False


@dataclass(frozen=True)
class Memberships:
    """What a user belongs to, transitively: groups, and the directory roles they hold."""

    groups: tuple[Group, ...]
    roles: tuple[str, ...]


class EntraDirectory:
    """The company directory in Entra ID. Thread-safe: httpx and msal are, and the group cache is locked."""

    name = "entra"
    supports_unlock = False

    def __init__(self, graph: GraphClient, *, protected_groups: tuple[str, ...] = ()) -> None:
        self._graph = graph
        self._protected = {group.strip().lower() for group in protected_groups if group.strip()}
        self._groups: dict[str, Group] = {}  # catalogue name or id (lower case) → group
        self._missing_groups: set[str] = set()  # warned about once, not on every message
        self._lock = threading.Lock()

    def close(self) -> None:
        self._graph.close()

    # --- reading people and groups -------------------------------------------------------------------

    def find_by_email(self, email: str) -> DirectoryPerson | None:
        """The one user whose mail or userPrincipalName is `email`; None when nobody or several match."""
        email = email.strip()
        if not email or len(email) > MAX_EMAIL_LENGTH:
            return None
        quoted = _odata_string(email)
        found = (
            self._graph.get(
                "users",
                {
                    "$filter": f"mail eq {quoted} or userPrincipalName eq {quoted}",
                    "$select": USER_FIELDS,
                    "$top": "2",
                },
            ).get("value")
            or []
        )
        if len(found) > 1:
            log.warning("directory_email_ambiguous", matches=[user.get("id") for user in found])
            return None
        return self._person(found[0]) if found else None

    def get(self, person_id: str) -> DirectoryPerson | None:
        user = self._user(person_id)
        return self._person(user) if user else None

    def group_members(self, group: str) -> list[DirectoryPerson]:
        resolved = self._group(group)
        if resolved is None:
            return []
        users = self._graph.iter_all(
            f"groups/{resolved.id}/transitiveMembers/microsoft.graph.user", {"$select": USER_FIELDS}
        )
        # Names and emails are what callers need of a member list: no manager or group reads per member.
        return [self._person(user, details=False) for user in users]

    def is_member(self, person: DirectoryPerson, group: str) -> bool:
        """Transitive, like the role checks that use it: a member of a nested group is a member."""
        resolved = self._group(group)
        if resolved is None or not _is_object_id(person.id):
            return False
        # One call (a read, though a POST) instead of every page of the person's memberships: this runs
        # for the technician and manager roles on every message.
        found = self._graph.post(f"users/{person.id}/checkMemberGroups", {"groupIds": [resolved.id]})
        return resolved.id in (found.get("value") or [])

    # --- group membership (access grants) -------------------------------------------------------------

    def add_member(self, person: DirectoryPerson, group: str) -> bool:
        """POST members/$ref; Graph's 400 "already exist" means done (False), as the ldap3 backend's."""
        user = self._writable_user(person)
        if user.get("userType") == "Guest":
            raise NotPermitted("refused to change the group memberships of a guest account")
        target = self._writable_group(group)
        reference = {"@odata.id": f"{self._graph.base_url}/v1.0/directoryObjects/{person.id}"}
        try:
            self._graph.post(f"groups/{target.id}/members/$ref", reference)
            added = True
        except GraphError as error:
            if not (error.status == 400 and "already exist" in error.reason.lower()):
                raise
            added = False
        log.info("directory_member_added", user=person.id, group=target.name, added=added)
        return added

    def remove_member(self, person: DirectoryPerson, group: str) -> bool:
        """DELETE members/{id}/$ref; Graph's 404 (not a member) means done (False)."""
        self._writable_user(person)
        target = self._writable_group(group)
        try:
            self._graph.delete(f"groups/{target.id}/members/{person.id}/$ref")
            removed = True
        except GraphNotFound:
            removed = False
        log.info("directory_member_removed", user=person.id, group=target.name, removed=removed)
        return removed

    def _writable_user(self, person: DirectoryPerson) -> dict[str, Any]:
        user = self._user(person.id)
        if user is None:
            raise NotFound("the account is not in the directory the bot manages")
        return user

    def _writable_group(self, group: str) -> Group:
        resolved = self._group(group)
        if resolved is None:
            raise NotFound(f"no single group {group!r} in the directory")
        if resolved.role_assignable or self._is_protected(resolved):
            log.warning("directory_refused_protected_group", group=resolved.id, name=resolved.name)
            raise refused_protected_group(resolved.name)
        return resolved

    # --- account state and changes -------------------------------------------------------------------

    def account_status(self, person: DirectoryPerson) -> AccountStatus:
        user = self._user(person.id)
        if user is None:
            return AccountStatus(exists=False)
        reason = self._protected_reason(user, self._memberships(person.id))
        return AccountStatus(
            exists=True,
            disabled=user.get("accountEnabled") is False,
            locked=False,  # Graph does not expose smart lockout, nor clears it
            protected=bool(reason),
            protected_reason=reason,
        )

    def decoy_status_read(self) -> None:
        """The reads of `account_status` for an object id that cannot exist (both answer 404)."""
        decoy = str(uuid.uuid4())
        for path in (f"users/{decoy}", f"users/{decoy}/transitiveMemberOf"):
            with suppress(GraphNotFound):
                self._graph.get(path, {"$select": "id"})

    def password_policy(self) -> PasswordPolicy:
        return ENTRA_POLICY

    def reset_password(self, person: DirectoryPerson, new_password: str, *, must_change: bool = True) -> None:
        """PATCH passwordProfile, then revoke the sign-in sessions; see the module docstring."""
        if not new_password:
            raise PolicyViolation("the password is empty")
        started = time.monotonic()
        writable(self.account_status(person), person.id, "reset the password of")
        profile = {"password": new_password, "forceChangePasswordNextSignIn": must_change}
        try:
            self._graph.patch(f"users/{person.id}", {"passwordProfile": profile})
        except GraphError as error:
            raise _reset_error(error, new_password) from None
        # From here on the password HAS changed: a failure is unfinished work, never a failed reset.
        try:
            self._graph.post(f"users/{person.id}/revokeSignInSessions")
        except DirectoryError as error:
            log.error("directory_reset_partial", user=person.id, unfinished={"revoke_sessions": error.reason})
            raise PartiallyApplied(
                f"the password was changed, but the sign-in sessions were not revoked: {error.reason}",
                unfinished=("revoke_sessions",),
            ) from None
        log.info(
            "directory_password_reset",
            user=person.id,
            must_change=must_change,
            ms=round((time.monotonic() - started) * 1000, 1),
        )

    def unlock(self, person: DirectoryPerson) -> None:
        raise UnlockUnsupported(
            "unlocking is not a Microsoft Graph operation: Entra ID's smart lockout ends by itself; "
            "offer a password reset or a ticket"
        )

    # --- helpers -------------------------------------------------------------------------------------

    def _protected_reason(self, user: dict[str, Any], memberships: Memberships) -> str:
        """Why no automation may write to this account, or "" — the first reason found."""
        if memberships.roles:
            return f"holds the directory role {memberships.roles[0]}"
        for group in memberships.groups:
            if group.role_assignable:
                return f"member of {group.name} (a role-assignable group)"
            if self._is_protected(group):
                return f"member of {group.name}"
        if user.get("userType") == "Guest":
            return "a guest account"
        if user.get("onPremisesSyncEnabled"):
            return SYNCED_REASON
        return ""

    def _is_protected(self, group: Group) -> bool:
        return group.id.lower() in self._protected or group.name.lower() in self._protected

    def _user(self, person_id: str) -> dict[str, Any] | None:
        if not _is_object_id(person_id):
            return None  # a forged id cannot make the bot call another Graph path
        try:
            return self._graph.get(f"users/{person_id}", {"$select": USER_FIELDS})
        except GraphNotFound:
            return None

    def _memberships(self, user_id: str) -> Memberships:
        groups, roles = [], []
        for item in self._graph.iter_all(
            f"users/{user_id}/transitiveMemberOf", {"$select": MEMBERSHIP_FIELDS}
        ):
            kind = item.get("@odata.type")
            if kind == DIRECTORY_ROLE:
                roles.append(str(item.get("displayName") or item.get("id")))
            elif kind == GROUP or kind is None:
                groups.append(_group_of(item))
        return Memberships(tuple(groups), tuple(roles))

    def _person(self, user: dict[str, Any], *, details: bool = True) -> DirectoryPerson:
        upn = str(user.get("userPrincipalName") or "")
        email = str(user.get("mail") or upn).strip().lower()
        other = [str(mail) for mail in user.get("otherMails") or [] if mail]
        groups: tuple[str, ...] = ()
        manager = None
        if details:
            groups = tuple(sorted({g.name for g in self._memberships(user["id"]).groups}, key=str.lower))
            manager = self._manager_email(user["id"])
        return DirectoryPerson(
            id=str(user["id"]),
            email=email,
            name=str(user.get("displayName") or email),
            title=str(user.get("jobTitle") or ""),
            department=str(user.get("department") or ""),
            location=str(user.get("officeLocation") or ""),
            manager_email=manager,
            groups=groups,
            recovery_email=other[0] if other else None,
            username=upn.split("@")[0],
        )

    def _manager_email(self, user_id: str) -> str | None:
        try:
            manager = self._graph.get(f"users/{user_id}/manager", {"$select": "mail,userPrincipalName"})
        except GraphNotFound:
            return None  # nobody is set as manager
        email = str(manager.get("mail") or manager.get("userPrincipalName") or "").strip().lower()
        return email or None

    def _group(self, group: str) -> Group | None:
        """A catalogue group given by object id or display name → the group, resolved once and cached."""
        key = group.strip().lower()
        with self._lock:
            if key in self._groups:
                return self._groups[key]
        resolved = self._resolve_group(group.strip())
        if resolved is not None:  # a missing group is looked for again: it may be created meanwhile
            with self._lock:
                self._groups[key] = resolved
        return resolved

    def _resolve_group(self, group: str) -> Group | None:
        if _is_object_id(group):
            try:
                return _group_of(self._graph.get(f"groups/{group}", {"$select": MEMBERSHIP_FIELDS}))
            except GraphNotFound:
                found: list[dict[str, Any]] = []
        else:
            found = (
                self._graph.get(
                    "groups",
                    {
                        "$filter": f"displayName eq {_odata_string(group)}",
                        "$select": MEMBERSHIP_FIELDS,
                        "$top": "2",
                    },
                ).get("value")
                or []
            )
        if len(found) != 1:
            if group not in self._missing_groups:
                self._missing_groups.add(group)
                log.warning("directory_group_not_found", group=group, matches=len(found))
            return None
        return _group_of(found[0])


def _group_of(item: dict[str, Any]) -> Group:
    return Group(
        id=str(item.get("id")),
        name=str(item.get("displayName") or item.get("id")),
        role_assignable=bool(item.get("isAssignableToRole")),
    )


def _reset_error(error: GraphError, password: str) -> DirectoryError:
    """Graph's answer to a refused PATCH of the password, scrubbed of the password just in case."""
    reason = error.reason.replace(password, "[redacted]")
    if error.status == 400 and "password" in reason.lower():
        return PolicyViolation("the password does not meet Entra ID's complexity or history rules")
    return type(error)(reason, status=error.status, code=error.code)


def _odata_string(value: str) -> str:
    """An OData string literal: quotes doubled, so an email cannot end the literal and add a clause."""
    return "'" + value.replace("'", "''") + "'"


def _is_object_id(value: str) -> bool:
    return bool(_OBJECT_ID.match(value or ""))
