"""People's text made safe to print on a terminal: control characters and bidi overrides shown, not obeyed.

A ticket subject, a relayed message or an audit target is typed by someone else. Printed as it is, an
escape sequence (ESC [ …) can rewrite the technician's terminal, a carriage return can overwrite the line
it is on, and a bidi override (U+202E) can make "evil.exe" read as "exe.live". Everything printed for a
person to read — the console chat's text mode, `frontdesk tickets list/show`, `audit list` — goes
through `printable`. JSON output needs none of it: json.dumps escapes control characters itself.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL and the C1 controls, the bidi embeddings/overrides (U+202A-202E)
# and isolates (U+2066-2069), and lone surrogates (undecodable bytes read with surrogateescape).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def printable(text: str) -> str:
    """`text` with every unsafe character replaced by its escape (\\x1b, \\u202e); the rest as it is."""
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
