"""Checks a demo directory file before it is used: every reference must point at something in the file.

A manager who is not a person, a group that is not declared, or the same email twice would otherwise
surface much later as a reset approval nobody can give or a role nobody has. Each problem names the
file and the entry, so the person editing their own people.yaml knows what to fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from automations.demo_directory import DemoDirectoryError


def check_file(path: Path) -> None:
    """Raise `DemoDirectoryError` listing every broken reference in the YAML file at `path`."""
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise DemoDirectoryError(f"{path}: cannot read the demo directory: {error}") from None
    found = problems(document, str(path))
    if found:
        raise DemoDirectoryError("\n  ".join(found))


def problems(document: Any, source: str) -> list[str]:
    if not isinstance(document, dict) or not isinstance(document.get("people"), list):
        return [f"{source}: expected a mapping with a `people:` list"]
    people = [p for p in document["people"] if isinstance(p, dict)]
    groups = {str(g["name"]) for g in document.get("groups") or [] if isinstance(g, dict) and g.get("name")}
    emails = [_email(p.get("email")) for p in people]
    found = []
    seen: set[str] = set()
    for index, (person, email) in enumerate(zip(people, emails, strict=True)):
        where = f"{source}: people[{index}] ({email or 'no email'})"
        if email and email in seen:
            found.append(f"{where}: the email {email} appears more than once")
        seen.add(email)
        manager = _email(person.get("manager"))
        if manager and manager not in emails:
            found.append(f"{where}: manager {manager} is not a person in this file")
        found += [
            f"{where}: group {group!r} is not declared under `groups:`"
            for group in person.get("groups") or ()
            if str(group) not in groups
        ]
    return found


def _email(value: object) -> str:
    return str(value).strip().lower() if value else ""
