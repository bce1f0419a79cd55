"""A neutral `Reply` as a Teams message: plain text when it is only words, else an Adaptive Card
(`microsoft_teams.cards`) with TextBlocks, a FactSet for `Card.fields` and Action.Execute buttons.

Nothing the bot says can act as markup: a text message is sent with `textFormat: plain`, and the words on a
card (where Teams renders a Markdown subset) have the characters of links, emphasis and `<at>` mentions
backslash-escaped — all of it, not only `Reply.quoted`, as the Slack renderer does. Mentions in Teams
also need an entity, which the bot never sends.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from microsoft_teams.cards import (
    ActionSet,
    AdaptiveCard,
    CardElement,
    ExecuteAction,
    Fact,
    FactSet,
    TextBlock,
)

from bot.messages import Button, Reply, shorten

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
TEXT_CHARS = 20_000  # Teams' limit is ~28 KB per message, everything included
BUTTON_LABEL_CHARS = 60
FACT_CHARS = 2_000
SUMMARY_CHARS = 250  # the notification line of a card
_MARKDOWN = re.compile(r"([\\`*_~\[\]<>])")
_STYLES: dict[str, Literal["positive", "destructive"]] = {"primary": "positive", "danger": "destructive"}


def escape(text: str) -> str:
    """Markdown and `<at>` characters backslash-escaped: on a card, relayed text stays inert text."""
    return _MARKDOWN.sub(r"\\\1", text)


def render(reply: Reply, *, chosen: str = "") -> dict[str, Any]:
    """The activity to post or put. `chosen`: the label of the button pressed on this card — its buttons
    are then replaced by a line saying so, so it cannot be pressed twice."""
    if reply.card is None and not reply.buttons and not chosen and not _context_line(reply):
        return {"type": "message", "text": shorten(reply.text, TEXT_CHARS), "textFormat": "plain"}
    return {
        "type": "message",
        "summary": shorten(reply.text, SUMMARY_CHARS),
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": card(reply, chosen=chosen)}],
    }


def card(reply: Reply, *, chosen: str = "") -> dict[str, Any]:
    """The Adaptive Card alone (an `adaptiveCard/action` invoke answers with one)."""
    body: list[CardElement] = []
    if reply.text:
        body.append(TextBlock(text=escape(shorten(reply.text, TEXT_CHARS)), wrap=True))
    if reply.card is not None:
        body.append(TextBlock(text=escape(reply.card.title), weight="Bolder", wrap=True))
        facts = [
            Fact(title=escape(label), value=escape(shorten(value, FACT_CHARS)))
            for label, value in reply.card.fields
        ]
        if facts:
            body.append(FactSet(facts=facts))
    if chosen:
        body.append(TextBlock(text=f"You chose: **{escape(chosen)}**", wrap=True, is_subtle=True))
    elif reply.buttons:
        body.append(ActionSet(actions=[_button(button) for button in reply.buttons]))
    context = _context_line(reply)
    if context:
        body.append(TextBlock(text=context, size="Small", is_subtle=True, wrap=True))
    return AdaptiveCard(body=body).model_dump(by_alias=True, exclude_none=True)


def label_of(reply: Reply, button_id: str) -> str:
    return next((b.label for b in reply.buttons if b.id == button_id), "")


def _button(button: Button) -> ExecuteAction:
    """Both `verb` and `data.action`: the Teams SDK routes on `data.action`, the Agents SDK and Teams' own
    Universal Actions on `verb`."""
    action = ExecuteAction(
        title=shorten(button.label, BUTTON_LABEL_CHARS), verb=button.id, data={"action": button.id}
    )
    if button.style in _STYLES:
        action.style = _STYLES[button.style]
    return action


def _context_line(reply: Reply) -> str:
    if reply.secret is not None and reply.delete_after:
        return f"This message is deleted in {max(1, reply.delete_after // 60)} min."
    if reply.ticket is not None:
        return f"Ticket #{reply.ticket}"
    return ""
