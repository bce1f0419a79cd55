"""The embedded demo directory: people and groups from a YAML file, accounts simulated in memory.

    people: [{email, name, title, department, location, manager: EMAIL, groups: [NAME],
              recovery_email, locked, disabled, username}]
    groups: [{name, description, protected}]

It lets anyone try frontdesk with their own people and no server. Resets and unlocks change only the
in-memory copy (a demo must never pretend to touch a real account); the password itself is not kept.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from automations.directory import (
    AccountStatus,
    DirectoryPerson,
    NotFound,
    NotLocked,
    NotPermitted,
    PasswordPolicy,
)


class DemoDirectoryError(ValueError):
    """The YAML file is not a usable directory; the message names the file and the entry."""


@dataclass
class _Account:
    locked: bool = False
    disabled: bool = False
    must_change: bool = False
    resets: int = 0


class DemoDirectory:
    name = "demo"

    def __init__(
        self, people: list[DirectoryPerson], groups: dict[str, dict[str, Any]], accounts: dict[str, _Account]
    ) -> None:
        self._people = {person.email: person for person in people}
        self._groups = groups
        self._accounts = accounts
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: Path) -> DemoDirectory:
        try:
            document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as error:
            raise DemoDirectoryError(f"{path}: cannot read the demo directory: {error}") from None
        return cls.from_document(document, source=str(path))

    @classmethod
    def from_document(cls, document: dict[str, Any], source: str = "<demo>") -> DemoDirectory:
        if not isinstance(document, dict) or not isinstance(document.get("people"), list):
            raise DemoDirectoryError(f"{source}: expected a mapping with a `people:` list")
        _check_groups_section(document.get("groups"), source)
        groups = {
            str(g["name"]): dict(g)
            for g in document.get("groups") or []
            if isinstance(g, dict) and g.get("name")
        }
        people, accounts = [], {}
        for index, entry in enumerate(document["people"]):
            person, account = _parse_person(entry, f"{source}: people[{index}]")
            people.append(person)
            accounts[person.email] = account
        problems = _broken_references(people, set(groups), source)
        if problems:
            raise DemoDirectoryError("\n  ".join(problems))
        return cls(people, groups, accounts)

    def people(self) -> list[DirectoryPerson]:
        return list(self._people.values())

    def find_by_email(self, email: str) -> DirectoryPerson | None:
        return self._people.get(email.strip().lower())

    def get(self, person_id: str) -> DirectoryPerson | None:
        return self._people.get(person_id)

    def group_members(self, group: str) -> list[DirectoryPerson]:
        return [person for person in self._people.values() if group in person.groups]

    def is_member(self, person: DirectoryPerson, group: str) -> bool:
        # The directory's current record, not the caller's copy: memberships change while the bot runs.
        current = self._people.get(person.email, person)
        return group in current.groups

    def add_member(self, person: DirectoryPerson, group: str) -> bool:
        with self._lock:
            current = self._member_record(person, group)
            if group in current.groups:
                return False
            self._people[current.email] = with_groups(current, group)
            return True

    def remove_member(self, person: DirectoryPerson, group: str) -> bool:
        with self._lock:
            current = self._member_record(person, group)
            if group not in current.groups:
                return False
            self._people[current.email] = replace(
                current, groups=tuple(g for g in current.groups if g != group)
            )
            return True

    def _member_record(self, person: DirectoryPerson, group: str) -> DirectoryPerson:
        if group not in self._groups:
            raise NotFound(f"no group {group!r} in the demo directory")
        if self._groups[group].get("protected"):
            raise NotPermitted(f"refused to change the protected group {group!r}")
        current = self._people.get(person.email)
        if current is None:
            raise NotFound()
        return current

    def group_names(self) -> set[str]:
        return set(self._groups)

    def protected_groups(self) -> set[str]:
        return {name for name, group in self._groups.items() if group.get("protected")}

    def account_status(self, person: DirectoryPerson) -> AccountStatus:
        account = self._account(person)
        protected = [g for g in person.groups if self._groups.get(g, {}).get("protected")]
        return AccountStatus(
            exists=True,
            disabled=account.disabled,
            locked=account.locked,
            protected=bool(protected),
            protected_reason=f"member of {', '.join(protected)}" if protected else "",
        )

    def decoy_status_read(self) -> None:
        """In memory every read costs the same: nothing to even out."""

    def password_policy(self) -> PasswordPolicy:
        return PasswordPolicy(min_length=12, require_classes=3)

    def reset_password(self, person: DirectoryPerson, new_password: str, *, must_change: bool = True) -> None:
        with self._lock:
            account = self._account(person)
            account.locked = False
            account.must_change = must_change
            account.resets += 1

    def unlock(self, person: DirectoryPerson) -> None:
        with self._lock:
            account = self._account(person)
            if not account.locked:
                raise NotLocked()
            account.locked = False

    def _account(self, person: DirectoryPerson) -> _Account:
        account = self._accounts.get(person.email)
        if account is None:
            raise NotFound()
        return account


def _broken_references(people: list[DirectoryPerson], groups: set[str], source: str) -> list[str]:
    """Every reference must point at something in the file. A manager who is not a person, an undeclared
    group or the same email twice would otherwise surface much later, as an approval nobody can give or
    a role nobody has; each problem names the file and the entry, so whoever edits it knows what to fix."""
    emails = {person.email for person in people}
    problems, seen = [], set()
    for index, person in enumerate(people):
        where = f"{source}: people[{index}] ({person.email})"
        if person.email in seen:
            problems.append(f"{where}: the email {person.email} appears more than once")
        seen.add(person.email)
        if person.manager_email and person.manager_email not in emails:
            problems.append(f"{where}: manager {person.manager_email} is not a person in this file")
        problems += [
            f"{where}: group {group!r} is not declared under `groups:`"
            for group in person.groups
            if group not in groups
        ]
    return problems


# Field types of a person and of a group. A wrong one would be read wrongly rather than refused:
# `groups: finance` as the groups f, i, n…, `groups: 5` as a crash, `locked: "no"` as locked.
_PERSON_TEXT = ("email", "name", "title", "department", "location", "manager", "recovery_email", "username")
_PERSON_FLAGS = ("locked", "disabled")
_GROUP_TEXT = ("name", "description")
_GROUP_FLAGS = ("protected",)


def _check_groups_section(groups: Any, source: str) -> None:
    if groups is None:
        return
    if not isinstance(groups, list) or not all(isinstance(group, dict) for group in groups):
        raise DemoDirectoryError(
            f"{source}: `groups` must be a list of groups, each with a `name` (`description`, `protected`)"
        )
    for index, group in enumerate(groups):
        _check_types(group, f"{source}: groups[{index}]", _GROUP_TEXT, _GROUP_FLAGS)


def _check_types(entry: dict[str, Any], where: str, text: tuple[str, ...], flags: tuple[str, ...]) -> None:
    """One clear line for the first field of the wrong type, naming the entry and the field."""
    for field in text:
        if entry.get(field) is not None and not isinstance(entry[field], str):
            raise DemoDirectoryError(f"{where}: `{field}` must be text, not {_kind(entry[field])}")
    for field in flags:
        if entry.get(field) is not None and not isinstance(entry[field], bool):
            raise DemoDirectoryError(f"{where}: `{field}` must be true or false, not {_kind(entry[field])}")


def _kind(value: Any) -> str:
    kinds = {bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "a mapping"}
    return kinds.get(type(value), f"the text {value!r}" if isinstance(value, str) else type(value).__name__)


def _parse_person(entry: Any, where: str) -> tuple[DirectoryPerson, _Account]:
    if not isinstance(entry, dict) or not entry.get("email") or "@" not in str(entry["email"]):
        raise DemoDirectoryError(f"{where}: every person needs an `email`")
    _check_types(entry, where, _PERSON_TEXT, _PERSON_FLAGS)
    groups = entry.get("groups")
    if groups is not None and not (isinstance(groups, list) and all(isinstance(g, str) for g in groups)):
        raise DemoDirectoryError(
            f"{where}: `groups` must be a list of group names, e.g. [finance], not {_kind(groups)}"
        )
    email = str(entry["email"]).strip().lower()
    person = DirectoryPerson(
        id=email,
        email=email,
        name=str(entry.get("name") or email.split("@")[0]),
        title=str(entry.get("title") or ""),
        department=str(entry.get("department") or ""),
        location=str(entry.get("location") or ""),
        manager_email=str(entry["manager"]).strip().lower() if entry.get("manager") else None,
        groups=tuple(str(g) for g in entry.get("groups") or ()),
        recovery_email=str(entry["recovery_email"]).strip() if entry.get("recovery_email") else None,
        username=str(entry.get("username") or email.split("@")[0]),
    )
    account = _Account(locked=bool(entry.get("locked")), disabled=bool(entry.get("disabled")))
    return person, account


def with_groups(person: DirectoryPerson, *groups: str) -> DirectoryPerson:
    """A copy of `person` in more groups (tests and the demo seeding use it)."""
    return replace(person, groups=(*person.groups, *groups))
