"""What a button may carry after its action name, checked in one place before any handler uses it.

A button id comes back from the chat platform, and a forged or mangled one can carry anything: "²"
(a digit to `str.isdigit`, not to `int`), a hundred thousand digits, a number past the database's
integers. Every handler reads its argument through these functions, which answer None for anything that
names nothing, so the handler says "there is no such …" instead of failing into a "bot error" ticket.
"""

from __future__ import annotations

import re

# Database ids are integers; PostgreSQL's are 32-bit. A larger number names no record, and must not
# reach the database, where it would fail as an overflow instead of "no such record".
MAX_RECORD_ID = 2**31 - 1
_MAX_ID_DIGITS = len(str(MAX_RECORD_ID))
# Correlation ids (uuid4 hex) and article ids (slugs): short, and plain ASCII.
_TOKEN = re.compile(r"[A-Za-z0-9._-]{1,80}")
MAX_TEXT = 200  # a text argument (an email, a flag name) longer than this is not one of ours


def record_id(text: str) -> int | None:
    """A database id: ASCII digits only, 1 … MAX_RECORD_ID; None when `text` names no record."""
    if not (0 < len(text) <= _MAX_ID_DIGITS and text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_RECORD_ID else None


def token(text: str) -> str | None:
    """A short ASCII identifier (a request's correlation id, an article id); None otherwise."""
    return text if _TOKEN.fullmatch(text) else None


def bounded_text(text: str) -> str | None:
    """A free-text argument (an email, a flag name) of a sane length; None otherwise."""
    return text if len(text) <= MAX_TEXT else None
