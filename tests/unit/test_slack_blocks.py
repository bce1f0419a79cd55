"""A neutral Reply as Block Kit: escaped, within Slack's limits, buttons with their styles."""

from __future__ import annotations

from typing import Any

from bot.messages import Button, Card, Reply
from bot.platforms.slack.blocks import MAX_BLOCKS, SECTION_CHARS, escape, render, split, unescape


def texts(rendered: dict) -> list[str]:
    found = [rendered["text"]]
    for block in rendered["blocks"]:
        if "text" in block:
            found.append(block["text"]["text"])
        found += [f["text"] for f in block.get("fields", [])]
        found += [e["text"] for e in block.get("elements", []) if e.get("type") == "mrkdwn"]
    return found


def test_relayed_mentions_links_and_broadcasts_are_inert() -> None:
    typed = "<!channel> look <@U123> at <http://evil.example|your bank> & <!here>"
    reply = Reply(
        "#triage", f"Ada added: {typed}", card=Card(typed, (("Problem", typed),)), quoted=(typed,), ticket=3
    )
    for text in texts(render(reply)):
        assert "<!" not in text and "<@" not in text and "<http" not in text
    assert "&lt;!channel&gt;" in render(reply)["text"] and "&amp;" in render(reply)["text"]
    assert unescape(escape(typed)) == typed


def test_long_text_is_split_into_sections_slack_accepts() -> None:
    reply = Reply("ada@example.com", ("word " * 2000) + "& <end>")
    sections = [b for b in render(reply)["blocks"] if b["type"] == "section"]
    assert len(sections) >= 4 and all(len(s["text"]["text"]) <= SECTION_CHARS for s in sections)
    joined = " ".join(s["text"]["text"] for s in sections)
    assert joined.endswith("&amp; &lt;end&gt;")  # no entity was cut in half


def test_a_message_never_has_more_than_fifty_blocks() -> None:
    reply = Reply("ada@example.com", "x" * (SECTION_CHARS * 60))
    blocks = render(reply)["blocks"]
    assert len(blocks) == MAX_BLOCKS and "shortened" in blocks[-1]["elements"][0]["text"]


def test_buttons_keep_their_ids_and_styles_and_a_card_becomes_fields() -> None:
    reply = Reply(
        "#triage",
        "ticket #4",
        (Button("ticket.claim:4", "Claim", "primary"), Button("ticket.show:4", "Details")),
        card=Card("#4 printer", tuple((f"label {i}", f"value {i}") for i in range(12))),
        ticket=4,
    )
    blocks = render(reply)["blocks"]
    actions = next(b for b in blocks if b["type"] == "actions")["elements"]
    assert [(a["action_id"], a.get("style")) for a in actions] == [
        ("ticket.claim:4", "primary"),
        ("ticket.show:4", None),
    ]
    field_sections = [b for b in blocks if "fields" in b]
    assert [len(b["fields"]) for b in field_sections] == [10, 2]
    assert blocks[-1]["type"] == "context" and "Ticket #4" in blocks[-1]["elements"][0]["text"]


def test_a_secret_says_when_it_disappears() -> None:
    reply = Reply("ada@example.com", "Your temporary password is: x", secret="x", delete_after=600)
    assert "deleted in 10 min" in render(reply)["blocks"][-1]["elements"][0]["text"]


def test_split_keeps_short_text_whole() -> None:
    assert split("hello", 10) == ["hello"] and split("", 10) == [""]


def _manifest(name: str) -> dict[str, Any]:
    from pathlib import Path

    import yaml

    import bot.platforms.slack as slack

    return dict(yaml.safe_load((Path(slack.__file__).parent / name).read_text()))


def test_the_manifest_asks_for_what_the_adapter_uses() -> None:
    manifest = _manifest("manifest.yaml")
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    needed = {
        "chat:write",
        "im:history",
        "im:write",
        "users:read",
        "users:read.email",
        "commands",
        "files:write",
    }
    assert needed | {"app_mentions:read", "channels:history", "groups:history"} <= scopes
    assert {"message.im", "app_mention", "message.channels", "app_home_opened"} <= set(
        manifest["settings"]["event_subscriptions"]["bot_events"]
    )
    assert manifest["settings"]["interactivity"]["is_enabled"]  # buttons and modals
    assert manifest["features"]["app_home"]["home_tab_enabled"]
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/helpdesk"]
    assert manifest["settings"]["socket_mode_enabled"] is True


def test_the_http_manifest_is_the_same_app_with_request_urls() -> None:
    socket, http = _manifest("manifest.yaml"), _manifest("manifest-http.yaml")
    url = "https://frontdesk.example.com/slack/events"
    assert http["settings"]["socket_mode_enabled"] is False
    assert http["settings"]["event_subscriptions"].pop("request_url") == url
    assert http["settings"]["interactivity"].pop("request_url") == url
    assert http["features"]["slash_commands"][0].pop("url") == url
    http["settings"]["socket_mode_enabled"] = True
    assert http == socket


def test_helpdesk_sub_commands_read_as_the_dm_would() -> None:
    from bot.platforms.slack.adapter import _in_words

    assert _in_words("access finance share") == "I need access to finance share"
    assert _in_words("access") == "what access do I have?"
    assert _in_words("Reset") == "reset my password"
    assert _in_words("how do I print") == "how do I print"
