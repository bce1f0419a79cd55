"""Temporary passwords for resets: random (secrets), within the directory's rules, easy to read out.

The user sees the password once, in a chat message, and types it at a login prompt, so the alphabet leaves
out look-alikes (0/O/o, 1/l/I) and characters that chat markup or keyboards mangle (`*_~` and quotes,
backslash, `@` and `#` that chat turns into mentions and channels, dead keys like `^`). Each password holds
all four character classes, which meets AD complexity (3 of 4) and any `require_classes` up to 4.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from automations.directory import PasswordPolicy

LOWER = "abcdefghijkmnpqrstuvwxyz"  # no l, o
UPPER = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I, O
DIGITS = "23456789"  # no 0, 1
SYMBOLS = "!$%+-=?"
CLASSES = (LOWER, UPPER, DIGITS, SYMBOLS)
ALPHABET = "".join(CLASSES)

# Never shorter than this, whatever the directory allows: ~83 bits with this alphabet, enough for a secret
# that lives minutes before the user must change it.
MINIMUM_LENGTH = 14
# AD refuses a password containing the account name or any 3+ character part of the display name.
_MIN_AVOID_TOKEN = 3


def generate_temporary_password(policy: PasswordPolicy, *, avoid: Iterable[str] = ()) -> str:
    """A random password meeting `policy`, at least MINIMUM_LENGTH long and with every character class.

    `avoid`: words the password must not contain (case-insensitive), e.g. the account name.
    """
    if policy.require_classes > len(CLASSES):
        raise ValueError(f"require_classes={policy.require_classes}: there are only {len(CLASSES)} classes")
    length = max(policy.min_length, MINIMUM_LENGTH)
    forbidden = [word.lower() for word in avoid if len(word) >= _MIN_AVOID_TOKEN]
    while True:
        # Rejection sampling keeps every accepted password uniformly random over the valid ones
        # (forcing one character per class into fixed positions would not).
        candidate = "".join(secrets.choice(ALPHABET) for _ in range(length))
        if _has_every_class(candidate) and not any(word in candidate.lower() for word in forbidden):
            return candidate


def _has_every_class(candidate: str) -> bool:
    return all(any(char in characters for char in candidate) for characters in CLASSES)
