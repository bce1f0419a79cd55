"""Short typed answers to the question the bot just asked: "yes", "nope", "that worked", "still broken",
👍 / 👎, or a button's own label, mean what its buttons mean, so a person need not find the button.

Only for questions where a yes or a no cannot hurt anyone (did the article help, shall I open a ticket, is
it urgent, send my access request): a decision about someone's account or access (approve, deny) or a
ticket is always pressed, never inferred.
"""

from __future__ import annotations

import re
from typing import Any

from handlers.context import State

_YES = re.compile(
    r"^(y|ya|yes|yeah|yea|yep|yup|sure|ok(ay)?|k|please|yes please|correct|right|exactly|indeed|perfect|great"
    r"|(yes,? )?(that|it|this) (worked|works|helped|did it|solved it|fixed it|was it)(,? (thanks?|thx|ty))?"
    r"|(it'?s )?(fixed|solved|sorted)"
    r"|(thanks?|thx|ty),? (that|it) (worked|helped)|go ahead|do it|👍|✅|👌)[\s.!,]*$",
    re.IGNORECASE,
)
_NO = re.compile(
    r"^(n|no|nope|nah|no thanks|no thank you|not really|not quite|nothing|wrong|negative"
    r"|(it'?s |it is )?still (broken|not working|the same|failing|happening)"
    r"|(it |that |this )?(didn'?t|did not|doesn'?t|does not|won'?t) (work|help)"
    r"|not (it|that|this|what i need(ed)?)|👎|❌)[\s.!,]*$",
    re.IGNORECASE,
)
_NEGATIVE_LABEL = re.compile(r"^(no\b|not\b|don'?t\b|cancel\b)", re.IGNORECASE)
# The buttons whose question a typed yes or no may answer.
ANSWERABLE = frozenset(
    {
        "kb.solved",
        "kb.unhelpful",
        "kb.escalate",
        "kb.decline",
        "new_ticket.urgency",
        "new_ticket.cancel",
        "access.confirm",  # the person's own request: "yes" sends it, "no" drops it
        "access.cancel",
        "access.ticket",
    }
)


def verdict(text: str) -> bool | None:
    """True for a yes, False for a no, None for anything else."""
    stripped = text.strip()
    if _YES.match(stripped):
        return True
    if _NO.match(stripped):
        return False
    return None


def button_meant(state: State, text: str) -> str | None:
    """The id of the button `text` answers, when the bot's latest message asked a yes/no question: the
    button whose label was typed ("confirm" under Confirm / Cancel), or the one a yes or a no means."""
    choices = latest_choices(state)
    if not choices:
        return None
    if any(str(choice.get("id", "")).split(":", 1)[0] not in ANSWERABLE for choice in choices):
        return None
    typed = text.strip().rstrip(".!").strip().lower()
    labelled = [c for c in choices if str(c.get("label", "")).lower() == typed]
    if labelled:
        return str(labelled[0]["id"])
    meant = verdict(text)
    if meant is None:
        return None
    yes = [c for c in choices if not _NEGATIVE_LABEL.match(str(c.get("label", "")))]
    no = [c for c in choices if _NEGATIVE_LABEL.match(str(c.get("label", "")))]
    if not (yes and no):
        return None  # not a yes/no question (a lone Cancel under "what's the problem?")
    return str((yes if meant else no)[0]["id"])


def latest_choices(state: State) -> list[dict[str, Any]]:
    """The buttons of the bot's last message, if nothing has been said since."""
    if not state.recent or state.recent[-1].get("who") != "bot":
        return []
    return list(state.recent[-1].get("choices") or [])
