"""A neutral `Reply` as Block Kit: text sections, a card as section fields, buttons, a context line.

Everything the bot says is escaped (`&`, `<`, `>`), not only `Reply.quoted`: the bot's own words carry no
Slack markup, and escaping all of it means no relayed `<!channel>`, `<@U…>` or `<http://…|…>` can ever act.
Slack's limits are kept: 3000 characters per section (longer text is split), 10 fields per section,
50 blocks per message, 75 characters per button label.
"""

from __future__ import annotations

from typing import Any

from bot.messages import Button, Form, FormField, Reply, shorten

SECTION_CHARS = 3000
FIELD_CHARS = 2000
FIELDS_PER_SECTION = 10
MAX_BLOCKS = 50
BUTTONS_PER_ACTIONS = 25
BUTTON_LABEL_CHARS = 75
FORM_CALLBACK = "frontdesk.form"  # every modal the core asks for; its action rides in private_metadata
MODAL_TITLE_CHARS = 24
INPUT_LABEL_CHARS = 2000
INTERNAL_MARK = "🔒 Internal note: technicians only, never shown to the requester"
FALLBACK_CHARS = 3000  # the notification text; Slack's own cap is 40k, but nobody reads that much there


def escape(text: str) -> str:
    """Slack's three control characters as entities: relayed text stays inert text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """What a person typed, from the entities Slack sends it with."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def render(reply: Reply, *, chosen: str = "") -> dict[str, Any]:
    """`{"text", "blocks"}` for chat.postMessage / chat.update. `chosen`: the label of the button pressed
    on this message — its buttons are then replaced by a line saying so, so it cannot be pressed twice."""
    blocks: list[dict[str, Any]] = [_section(part) for part in split(escape(reply.text), SECTION_CHARS)]
    if reply.card is not None:
        blocks += _card(reply)
    if chosen:
        blocks.append(_context(f"You chose: *{escape(chosen)}*"))
    elif reply.buttons:
        blocks += _actions(reply.buttons)
    context = _context_line(reply)
    if context:
        blocks.append(_context(context))
    if len(blocks) > MAX_BLOCKS:
        blocks = [*blocks[: MAX_BLOCKS - 1], _context("(shortened: the rest did not fit in one message)")]
    return {"text": shorten(escape(reply.text), FALLBACK_CHARS), "blocks": blocks}


def split(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut at a line break or a space where there is one."""
    pieces = []
    while len(text) > limit:
        cut = max(text.rfind("\n", 0, limit), text.rfind(" ", 0, limit))
        cut = cut if cut > limit // 2 else limit
        # never cut inside an entity (&amp;): Slack would show half of it
        amp = text.rfind("&", max(0, cut - 5), cut)
        if amp != -1 and ";" not in text[amp:cut]:
            cut = amp
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n ")
    return [*pieces, text] if text or not pieces else pieces


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text or " "}}


def _card(reply: Reply) -> list[dict[str, Any]]:
    assert reply.card is not None
    fields = [
        {"type": "mrkdwn", "text": shorten(f"*{escape(label)}*\n{escape(value)}", FIELD_CHARS)}
        for label, value in reply.card.fields
    ]
    blocks = [_section(f"*{shorten(escape(reply.card.title), SECTION_CHARS - 2)}*")]
    for start in range(0, len(fields), FIELDS_PER_SECTION):
        blocks.append({"type": "section", "fields": fields[start : start + FIELDS_PER_SECTION]})
    return blocks


def _actions(buttons: tuple[Button, ...]) -> list[dict[str, Any]]:
    elements = [_button(button) for button in buttons]
    return [
        {"type": "actions", "elements": elements[start : start + BUTTONS_PER_ACTIONS]}
        for start in range(0, len(elements), BUTTONS_PER_ACTIONS)
    ]


def _button(button: Button) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": shorten(button.label, BUTTON_LABEL_CHARS)},
        "action_id": button.id[:255],
        "value": button.id[:2000],
    }
    if button.style in ("primary", "danger"):
        element["style"] = button.style
    return element


def modal(form: Form) -> dict[str, Any]:
    """A `Form` as a modal view for views.open: one input block per field (block and action id = name)."""
    return {
        "type": "modal",
        "callback_id": FORM_CALLBACK,
        "private_metadata": form.action[:3000],
        "title": _plain(shorten(form.title, MODAL_TITLE_CHARS)),
        "submit": _plain(shorten(form.submit, MODAL_TITLE_CHARS)),
        "close": _plain("Cancel"),
        "blocks": [_input(field) for field in form.fields],
    }


def form_values(view: dict[str, Any]) -> dict[str, str]:
    """The answers of a submitted modal, by field name: typed text, or the chosen option's value."""
    values: dict[str, str] = {}
    for block_id, actions in ((view.get("state") or {}).get("values") or {}).items():
        for element in actions.values():
            chosen = element.get("selected_option") or {}
            values[block_id] = str(chosen.get("value") or element.get("value") or "")
    return values


def _input(field: FormField) -> dict[str, Any]:
    element: dict[str, Any]
    if field.choices:
        options = [
            {"text": _plain(shorten(label, BUTTON_LABEL_CHARS)), "value": value}
            for value, label in field.choices
        ]
        element = {"type": "radio_buttons", "action_id": field.name, "options": options}
    else:
        element = {"type": "plain_text_input", "action_id": field.name, "multiline": field.multiline}
        if field.placeholder:
            element["placeholder"] = _plain(shorten(field.placeholder, 150))
    label = _plain(shorten(field.label, INPUT_LABEL_CHARS))
    return {"type": "input", "block_id": field.name, "label": label, "element": element}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _context_line(reply: Reply) -> str:
    if reply.internal:
        return INTERNAL_MARK
    if reply.secret is not None and reply.delete_after:
        return f"This message is deleted in {max(1, reply.delete_after // 60)} min."
    if reply.ticket is not None:
        return f"Ticket #{reply.ticket}"
    return ""


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
