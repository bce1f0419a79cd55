"""The company directory as the rest of frontdesk sees it.

Every backend (the embedded demo directory, OpenLDAP / Active Directory over ldap3, Entra ID over Graph)
implements `Directory`. Callers never see backend types: they get `DirectoryPerson` values and the typed
errors below, so a handler can say what happened in plain words without knowing which server answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import structlog

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class DirectoryPerson:
    """One person as the directory knows them. `id` is the backend's stable handle (a DN, an object id)."""

    id: str
    email: str
    name: str
    title: str = ""
    department: str = ""
    location: str = ""
    manager_email: str | None = None
    groups: tuple[str, ...] = ()
    recovery_email: str | None = None
    username: str = ""


@dataclass(frozen=True)
class AccountStatus:
    """What the directory says about an account before anything is written to it."""

    exists: bool
    disabled: bool = False
    locked: bool = False
    protected: bool = False
    protected_reason: str = ""


@dataclass(frozen=True)
class PasswordPolicy:
    """The rules a new password must meet; generated passwords satisfy them."""

    min_length: int = 12
    require_classes: int = 3  # of: lower, upper, digit, symbol (AD complexity needs 3 of 4)
    history: int = 0
    extra: dict[str, str] = field(default_factory=dict)


class DirectoryError(Exception):
    """Base of every directory failure. `reason` is safe to show to a technician, never to a requester."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason or self.__class__.__doc__ or self.__class__.__name__)
        self.reason = reason or (self.__class__.__doc__ or "").strip()


class DirectoryUnavailable(DirectoryError):
    """The directory could not be reached or did not answer in time."""


class NotFound(DirectoryError):
    """No such account in the directory."""


class NotPermitted(DirectoryError):
    """The directory refused: the service account lacks the right, or the account is protected."""


class PolicyViolation(DirectoryError):
    """The directory's password policy refused the new password."""


class NotLocked(DirectoryError):
    """The account is not locked."""


class UnlockUnsupported(DirectoryError):
    """This directory has no unlock operation: offer a password reset or a ticket instead."""


class PartiallyApplied(DirectoryError):
    """The new password was set, but a later step of the reset failed.

    Raised only after the password changed, so the caller must still hand the new password over and have
    someone finish the `unfinished` steps: "must_change" (the change-at-next-logon flag), "unlock" and/or
    "revoke_sessions" (signing out the sessions of the old password).
    """

    def __init__(self, reason: str = "", *, unfinished: tuple[str, ...] = ("must_change",)) -> None:
        super().__init__(reason)
        self.unfinished = unfinished


def refused_protected_account(action: str, reason: str) -> NotPermitted:
    """The refusal of an account no automation may write to, in the same words for every backend."""
    return NotPermitted(f"refused to {action} a protected account ({reason})")


def writable(status: AccountStatus, account: str, action: str) -> AccountStatus:
    """`status`, once every account the bot must never write to is refused, the same way for every
    backend: a missing one, a protected (privileged) one, and a disabled one — on OpenLDAP a reset or
    unlock would also clear the "disabled" marker, and anywhere a disabled account is off for a reason."""
    if not status.exists:
        raise NotFound()
    if status.protected:
        log.warning(
            "directory_refused_protected", account=account, action=action, reason=status.protected_reason
        )
        raise refused_protected_account(action, status.protected_reason)
    if status.disabled:
        raise NotPermitted(f"refused to {action} a disabled account")
    return status


def refused_protected_group(group: str) -> NotPermitted:
    """The refusal of a membership change to a privileged group, in the same words for every backend."""
    return NotPermitted(f"refused to change the membership of the protected group {group}")


def can_unlock(directory: object) -> bool:
    """False for a backend that has no unlock (it says so with `supports_unlock = False`, e.g. Entra ID,
    whose smart lockout ends by itself and cannot be cleared through Graph)."""
    return bool(getattr(directory, "supports_unlock", True))


@runtime_checkable
class Directory(Protocol):
    """Read people and groups; reset and unlock accounts; add and remove group members.

    Implementations must be thread-safe."""

    name: str

    def find_by_email(self, email: str) -> DirectoryPerson | None: ...

    def get(self, person_id: str) -> DirectoryPerson | None: ...

    def group_members(self, group: str) -> list[DirectoryPerson]: ...

    def is_member(self, person: DirectoryPerson, group: str) -> bool: ...

    def add_member(self, person: DirectoryPerson, group: str) -> bool:
        """Make `person` a direct member of `group`. True when added, False when they already were one
        (counts as done). Raises NotFound for an unknown group, NotPermitted when refused."""
        ...

    def remove_member(self, person: DirectoryPerson, group: str) -> bool:
        """End `person`'s direct membership of `group`. True when removed, False when they were not a
        member (counts as done)."""
        ...

    def account_status(self, person: DirectoryPerson) -> AccountStatus: ...

    def decoy_status_read(self) -> None:
        """Cost about what `account_status` costs, for no account: refusing someone the directory does not
        know must take as long as refusing a protected account, or timing tells them apart."""
        ...

    def password_policy(self) -> PasswordPolicy: ...

    def reset_password(self, person: DirectoryPerson, new_password: str, *, must_change: bool = True) -> None:
        """Set `new_password`, require a change at next logon and clear any lockout.

        Raises PartiallyApplied when the password was set but a later step failed.
        """
        ...

    def unlock(self, person: DirectoryPerson) -> None:
        """Clear a lockout without touching the password. Raises NotLocked when there is none, and
        UnlockUnsupported from a backend that cannot (see `can_unlock`)."""
        ...
