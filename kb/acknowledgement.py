"""Bare acknowledgements and short chat replies ("ok", "thanks!", "cool cool", "yes", "👍"): never a question
for the knowledge base. Its own module, with no dependencies, so that kb.search can use it without loading
the intent model; kb.intent.guards applies it to routing."""

from __future__ import annotations

import re

# Acknowledgements and short chat replies: the whole message is made of these words (and punctuation or
# emoji). What "yes"/"no" mean after a question the bot asked is the conversation's business, not this.
_ACK_WORDS = (
    r"ok(ay|ey|i|ie)?|k+|kk|okie dokie|cool(io)?|nice( one)?|neat|great|awesome|perfect|super|lovely"
    r"|brilliant|sweet|fine|alright|all right|right|sounds good|noted|understood|got it|gotcha|roger"
    r"|will do|makes sense|fair enough|yes|yeah|yep|yup|yes please|sure( thing)?|of course|absolutely"
    r"|no|nope|nah|no thanks|not now|maybe later|never ?mind|forget it|hmm+|hm+|ah|oh|i see|lol|haha"
    r"|thanks?( (you|u))?( (so|very) much)?|thank (you|u)|thx|ty|cheers|ta|much appreciated|appreciated"
    r"|that worked|it worked|that helped|all good|good|very|so|many"
)
_ACK_SYMBOLS = r"[\s.,!?:;)(\-]|[\U0001F300-\U0001FAFF\u2600-\u27BF\uFE0F]"
_ACKNOWLEDGEMENT = re.compile(
    rf"^(?:{_ACK_SYMBOLS})*(?:(?:{_ACK_WORDS})\b(?:{_ACK_SYMBOLS})*)+$|^(?:{_ACK_SYMBOLS})+$",
    re.IGNORECASE,
)


def is_acknowledgement(text: str) -> bool:
    """ "ok", "thanks!", "cool cool", "yes", "nope", "👍", ":)": a chat reply, never a question."""
    stripped = text.strip()
    return bool(stripped) and bool(_ACKNOWLEDGEMENT.match(stripped))
