"""The catalogue of requestable access: what people may ask for, which directory group each grants, who
approves it and for how long at most.

The catalogue is a YAML file (FRONTDESK_ACCESS_CATALOG), validated once at start-up; a mistake stops the
start with one line per problem naming the file, the entry and the field. It is also the only source of
groups the bot will ever add anyone to: a request names a catalogue entry, never a group, so no input —
however it is worded — can reach a group that is not listed here.

    access:
      - id: finance-reports
        name: Finance reports
        aliases: [finance share, finance drive]
        description: Read access to the monthly finance reports
        group: finance                       # the directory group granted (a name or a DN)
        approvers: [manager]                 # any of: manager, owner:EMAIL, group:NAME, auto
        approvals_needed: 1
        auto_approve: {departments: [Finance], groups: []}   # optional: these requesters need no approval
        default_duration: 8h                 # 30m, 8h, 7d … or permanent
        max_duration: 7d
        justification: required             # or optional
        requestable_by: {departments: [], groups: []}        # optional: empty means everyone
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PERMANENT = "permanent"
_DURATION = re.compile(r"^\s*(\d+)\s*([a-z]+)\s*$", re.I)
_UNITS = {
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 7 * 86400,
    "week": 7 * 86400,
    "weeks": 7 * 86400,
}
_APPROVER = re.compile(r"^(manager|auto|owner:[^@\s]+@[^@\s]+|group:\S.*)$")
MATCH_THRESHOLD = 0.8  # how close a typo must be to an alias ("finanse share" → "finance share")
# Words that say nothing about *which* access, left out before matching.
_FILLER = re.compile(
    r"\b(i|i'd|id|need|want|would|like|please|pls|give|me|get|to|the|a|an|access|for|on|of|my|can|could|"
    r"request|requesting|have|some|into|in)\b",
    re.I,
)


class CatalogError(ValueError):
    """The catalogue cannot be used; the message has one line per problem (file, entry, field)."""


def parse_duration(text: str) -> timedelta | None:
    """ "8h", "30m", "7d", "2 days" → a timedelta; "permanent" → None. Raises ValueError otherwise."""
    cleaned = text.strip().lower()
    if cleaned == PERMANENT:
        return None
    match = _DURATION.match(cleaned)
    if not match or match[2] not in _UNITS or int(match[1]) <= 0:
        raise ValueError(f"{text!r} is not a duration: use e.g. 30m, 8h, 7d or permanent")
    return timedelta(seconds=int(match[1]) * _UNITS[match[2]])


def describe_duration(seconds: int | None) -> str:
    """3600 → "1 hour", 172800 → "2 days", None → "permanently"."""
    if seconds is None:
        return "permanently"
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{max(1, seconds // 60)} minutes"


class Audience(BaseModel):
    """People picked by department and/or group; both empty picks nobody."""

    model_config = ConfigDict(extra="forbid")

    departments: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.departments or self.groups)


class AccessEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")
    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    description: str = ""
    group: str = Field(min_length=1)
    approvers: list[str] = Field(min_length=1)
    approvals_needed: int = Field(default=1, ge=1, le=10)
    auto_approve: Audience | None = None
    default_duration: str
    max_duration: str
    justification: Literal["required", "optional"] = "required"
    requestable_by: Audience | None = None

    @field_validator("approvers")
    @classmethod
    def _known_approvers(cls, approvers: list[str]) -> list[str]:
        wrong = [a for a in approvers if not _APPROVER.match(a.strip())]
        if wrong:
            raise ValueError(f"unknown approver {wrong[0]!r}: use manager, owner:EMAIL, group:NAME or auto")
        return [a.strip() for a in approvers]

    @field_validator("default_duration", "max_duration")
    @classmethod
    def _is_duration(cls, value: str) -> str:
        parse_duration(str(value))
        return str(value).strip().lower()

    @model_validator(mode="after")
    def _consistent(self) -> AccessEntry:
        default, maximum = self.default_seconds, self.max_seconds
        if maximum is not None and (default is None or default > maximum):
            raise ValueError(f"default_duration {self.default_duration} is longer than max_duration")
        if "auto" in self.approvers and len(self.approvers) > 1:
            raise ValueError("approvers: `auto` cannot be combined with other approvers")
        people = [a for a in self.approvers if a.startswith(("owner:", "group:"))]
        if self.approvals_needed > 1 and not people:
            raise ValueError(
                "approvals_needed > 1 needs owner:EMAIL or group:NAME approvers (there is one manager)"
            )
        owners = [a for a in self.approvers if a.startswith("owner:")]
        if self.approvals_needed > 1 and len(owners) == len(self.approvers) < self.approvals_needed:
            raise ValueError(f"approvals_needed is {self.approvals_needed} but only {len(owners)} owners")
        return self

    @property
    def default_seconds(self) -> int | None:
        return _seconds(self.default_duration)

    @property
    def max_seconds(self) -> int | None:
        return _seconds(self.max_duration)

    @property
    def is_auto(self) -> bool:
        return self.approvers == ["auto"]

    def owners(self) -> list[str]:
        return [a.split(":", 1)[1].strip().lower() for a in self.approvers if a.startswith("owner:")]

    def approver_groups(self) -> list[str]:
        return [a.split(":", 1)[1].strip() for a in self.approvers if a.startswith("group:")]

    def phrases(self) -> list[str]:
        return [self.id.replace("-", " "), self.name, *self.aliases]


def _seconds(text: str) -> int | None:
    duration = parse_duration(text)
    return None if duration is None else int(duration.total_seconds())


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid")
    access: list[AccessEntry]


@dataclass(frozen=True)
class Match:
    entry: AccessEntry
    score: float


class AccessCatalog:
    def __init__(self, entries: list[AccessEntry], source: str = "<catalogue>") -> None:
        self.entries = entries
        self.source = source
        self._by_id = {entry.id: entry for entry in entries}

    def get(self, entry_id: str) -> AccessEntry | None:
        return self._by_id.get(entry_id)

    def grants_group(self, group: str) -> bool:
        """Whether `group` is in the catalogue at all (the only groups the bot may ever touch)."""
        return any(entry.group.lower() == group.lower() for entry in self.entries)

    def match(self, text: str) -> list[AccessEntry]:
        """The entries `text` asks for, best first: exact phrases win; otherwise close spellings."""
        scored = [m for m in (_score(entry, text) for entry in self.entries) if m.score >= MATCH_THRESHOLD]
        if not scored:
            return []
        best = max(m.score for m in scored)
        exact = [m for m in scored if m.score >= 1.0]
        chosen = exact or [m for m in scored if m.score >= best - 0.05]
        return [m.entry for m in sorted(chosen, key=lambda m: -m.score)]


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _score(entry: AccessEntry, text: str) -> Match:
    said = _words(text)
    meaningful = _words(_FILLER.sub(" ", text.lower()))
    best = 0.0
    for phrase in entry.phrases():
        words = _words(phrase)
        if not words:
            continue
        if _contains(said, words):
            return Match(entry, 1.0)
        size = len(words)
        target = " ".join(words)
        windows = [" ".join(meaningful[i : i + size]) for i in range(max(1, len(meaningful) - size + 1))]
        for window in windows:
            if window:
                best = max(best, difflib.SequenceMatcher(None, window, target).ratio())
    return Match(entry, best)


def _contains(said: list[str], words: list[str]) -> bool:
    size = len(words)
    return any(said[i : i + size] == words for i in range(len(said) - size + 1))


def load_catalog(path: Path) -> AccessCatalog:
    """Read and validate the catalogue; CatalogError names the file, the entry and the field."""
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise CatalogError(f"{path}: cannot read the access catalogue: {error}") from None
    return catalog_from_document(document, source=str(path))


def catalog_from_document(document: Any, source: str = "<catalogue>") -> AccessCatalog:
    if not isinstance(document, dict) or not isinstance(document.get("access"), list):
        raise CatalogError(f"{source}: expected a mapping with an `access:` list of entries")
    try:
        parsed = _Document.model_validate(document)
    except ValidationError as error:
        raise CatalogError("\n  ".join(_problem(source, document, e) for e in error.errors())) from None
    problems = _duplicates(parsed.access, source)
    if problems:
        raise CatalogError("\n  ".join(problems))
    return AccessCatalog(parsed.access, source)


def _problem(source: str, document: dict[str, Any], error: Any) -> str:
    location = list(error["loc"])
    where = source
    if len(location) >= 2 and location[0] == "access" and isinstance(location[1], int):
        index = location[1]
        raw = document["access"][index]
        name = raw.get("id") if isinstance(raw, dict) else None
        where += f": access[{index}]" + (f" ({name})" if name else "")
        location = location[2:]
    field = ".".join(str(part) for part in location)
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {field}: {message}" if field else f"{where}: {message}"


def _duplicates(entries: list[AccessEntry], source: str) -> list[str]:
    seen: set[str] = set()
    problems = []
    for index, entry in enumerate(entries):
        if entry.id in seen:
            problems.append(f"{source}: access[{index}] ({entry.id}): id: appears more than once")
        seen.add(entry.id)
    return problems


def check_groups_exist(catalog: AccessCatalog, known_groups: set[str]) -> list[str]:
    """Entries whose group the (demo) directory does not declare: each would be a request nobody can get."""
    known = {group.lower() for group in known_groups}
    return [
        f"{catalog.source}: access[{index}] ({entry.id}): group: {entry.group!r} is not a directory group"
        for index, entry in enumerate(catalog.entries)
        if entry.group.lower() not in known
    ]
