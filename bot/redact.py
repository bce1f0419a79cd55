"""Text that may hold a password or a code: found and hidden by one function, wherever user text goes.

A person types "my password is Summer2024!" more often than one would hope. Whatever follows such words
must not be stored (tickets, their history, knowledge-base questions), posted (triage, relays), emailed or
logged; `hide_secrets` replaces it with `HIDDEN` and every sink calls it. A plain description ("my
password is not working", "the password is expired") is not a secret and stays as typed.
"""

from __future__ import annotations

import re

HIDDEN = "[hidden]"
# "my password is …", "pwd: …", "the code is 123456": the word after the keyword is the secret — unless it
# plainly describes a problem rather than being a password.
_LOOKS_SECRET = re.compile(
    r"(?P<lead>\b(pass ?words?|passwd|pwd|pw|passcode|pin|code|secret|token|otp)\b\s*(is|was|:|=)\s*)"
    r"(?!(not|no|wrong|expired|locked|incorrect|invalid|rejected|too|still|the|a|an|being|now|blocked"
    r"|reset|changed|set|sent|updated|working|accepted|required|needed|correct|right|ok|fine|valid|my|your"
    r"|for|in|on|of|to|it|this|that|same|different|new|old)\b)"
    r"(?P<secret>\S+)",
    re.I,
)


def hide_typed_secrets(text: str) -> str:
    """`text` with whatever follows "password is", "pwd:", "code =" … replaced by `HIDDEN`."""
    return _LOOKS_SECRET.sub(lambda match: match["lead"] + HIDDEN, text)


def hide_secrets(text: str) -> str:
    """`text` safe to store, post, email or log: typed secrets and the bot's own live secrets (a temporary
    password pasted back) hidden."""
    from bot.logs import redact_text  # local: bot.logs uses this module for every log line

    return redact_text(hide_typed_secrets(text))


def looks_secret(text: str) -> bool:
    """Whether `text` may hold a password or a verification code (erring on the side of hiding)."""
    return hide_secrets(text) != text
