"""The neutral Reply as a Teams activity: plain text when it is words only, else an Adaptive Card whose
words cannot act as markup, with Action.Execute buttons that carry both `verb` and `data.action`."""

from __future__ import annotations

import json

from microsoft_teams.cards import AdaptiveCard

from bot.messages import Button, Card, Reply
from bot.platforms.teams.cards import escape, render


def _card(activity: dict) -> dict:
    (attachment,) = activity["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    return attachment["content"]


def test_words_only_are_a_plain_text_message() -> None:
    activity = render(Reply("ada@example.com", "Your ticket [x](https://evil.example) is *open*"))
    assert activity == {
        "type": "message",
        "text": "Your ticket [x](https://evil.example) is *open*",
        "textFormat": "plain",  # Teams renders none of it as Markdown
    }


def test_a_card_has_its_text_facts_buttons_and_ticket_line() -> None:
    reply = Reply(
        "#triage",
        "A new ticket",
        buttons=(Button("ticket.claim:7", "Claim", "primary"), Button("ticket.close:7", "Close", "danger")),
        card=Card("Ticket #7", (("From", "Ada"), ("Urgency", "normal"))),
        ticket=7,
    )
    card = _card(render(reply))
    AdaptiveCard.model_validate(card)  # the SDK's own model accepts it
    kinds = [element["type"] for element in card["body"]]
    assert kinds == ["TextBlock", "TextBlock", "FactSet", "ActionSet", "TextBlock"]
    assert card["body"][2]["facts"] == [
        {"title": "From", "value": "Ada"},
        {"title": "Urgency", "value": "normal"},
    ]
    claim, close = card["body"][3]["actions"]
    assert claim == {
        "type": "Action.Execute",
        "title": "Claim",
        "verb": "ticket.claim:7",
        "data": {"action": "ticket.claim:7"},
        "style": "positive",
    }
    assert close["style"] == "destructive"
    assert card["body"][-1]["text"] == "Ticket #7"


def test_a_chosen_card_says_what_was_chosen_and_has_no_buttons() -> None:
    reply = Reply("ada@example.com", "Did that help?", buttons=(Button("kb.helpful:1", "That solved it"),))
    card = _card(render(reply, chosen="That solved it"))
    assert "ActionSet" not in json.dumps(card)
    assert card["body"][-1]["text"] == "You chose: **That solved it**"


def test_relayed_text_on_a_card_cannot_link_mention_or_format() -> None:
    typed = "see [bank](https://evil.example) <at>Tess</at> **now** `x` ~~y~~ \\"
    card = _card(render(Reply("#triage", typed, buttons=(Button("ok", "OK"),))))
    text = card["body"][0]["text"]
    assert text == escape(typed)
    for live in ("[bank](", "<at>", "**now**", "`x`", "~~y~~"):
        assert live not in text
    assert "\\[bank\\]" in text and "\\<at\\>" in text


def test_the_temporary_password_card_says_when_it_disappears() -> None:
    activity = render(
        Reply("ada@example.com", "Your temporary password is …", secret="s3cret", delete_after=600)
    )
    assert _card(activity)["body"][-1]["text"] == "This message is deleted in 10 min."
