"""Slack as people use it beyond the DM: @mentions answered in their thread (a private flow moves to the
DM), the ticket and resolve modals, internal notes in a card's thread, files uploaded with a message —
signed requests through the real HTTP adapter, the real slack_sdk against the fake Slack Web API."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from automations.ldap import LdapDirectory
from bot.messages import Reply
from handlers import digest_report, home
from handlers.places import MOVED_TO_DM
from tests.integration.test_slack import (
    ADA,
    TESS,
    TOM,
    TRIAGE,
    Slack,
    blocks_of,
    button_id,
    buttons_of,
    open_home,
    open_ticket,
    running_slack,
    shown,
)
from tests.servers.directory import DirectoryServer
from tests.servers.fake_slack import TEAM, FakeSlack
from tests.servers.smtp import Mailbox

GENERAL = "CGENERAL"
DIGEST = "CDIGEST"
GRACE = "UGRACE"
# Every byte value, behind PNG's signature: an upload that re-encodes anything cannot pass for intact.
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture
def slack(fake_slack: FakeSlack, sqlite_url: str, tmp_path: Path) -> Iterator[Slack]:
    fake_slack.channels |= {GENERAL, DIGEST}
    fake_slack.add_user(GRACE, "grace@example.com", "Grace Manager")
    options = {"slack_digest_channel": DIGEST, "digest_chart_dir": str(tmp_path)}
    with running_slack(fake_slack, sqlite_url, **options) as running:
        yield running


def mention(slack: Slack, user: str, text: str, *, thread_ts: str = "") -> str:
    """`user` writes `text` with an @mention of the bot in #general; returns the message's ts."""
    ts = slack._ts()
    event = {"type": "app_mention", "channel": GENERAL, "user": user, "ts": ts, "text": f"<@UBOT> {text}"}
    assert slack.event({**event, "thread_ts": thread_ts} if thread_ts else event) == 200
    return ts


def in_general_thread(slack: Slack, user: str, thread_ts: str, text: str) -> int:
    event = {"type": "message", "channel_type": "channel", "channel": GENERAL, "user": user}
    return slack.event({**event, "text": text, "ts": slack._ts(), "thread_ts": thread_ts})


def thread(slack: Slack, channel: str, ts: str) -> list[dict[str, Any]]:
    return [p for p in slack.fake.posted(channel) if p.get("thread_ts") == ts]


def command(slack: Slack, user: str, text: str, trigger: str) -> int:
    fields = {"command": "/helpdesk", "text": text, "user_id": user, "team_id": TEAM, "channel_id": GENERAL}
    body = urlencode({**fields, "trigger_id": trigger, "api_app_id": "A0001", "token": "legacy"})
    return slack.post(body, "application/x-www-form-urlencoded")


def submit(
    slack: Slack, user: str, view: dict[str, Any], answers: dict[str, str], trigger: str
) -> dict[str, Any]:
    """`user` submits the modal `view` (as views.open received it) with `answers`; the adapter's answer."""
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        element = block["element"]
        answer = answers.get(block["block_id"])
        if element["type"] == "radio_buttons":
            chosen = {"selected_option": {"value": answer}} if answer else {"selected_option": None}
            values[block["block_id"]] = {element["action_id"]: {"type": "radio_buttons", **chosen}}
        else:
            typed = {"type": "plain_text_input", "value": answer}
            values[block["block_id"]] = {element["action_id"]: typed}
    payload = {
        "type": "view_submission",
        "team": {"id": TEAM},
        "user": {"id": user},
        "api_app_id": "A0001",
        "token": "legacy",
        "trigger_id": trigger,
        "view": {**view, "id": "VMODAL", "hash": "h1", "state": {"values": values}},
    }
    assert slack.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded") == 200
    return json.loads(slack.answered) if slack.answered.strip() else {}


# ---------------------------------------------------------------- @mentions in a channel


def test_a_mention_is_a_conversation_in_its_thread_and_follow_ups_need_no_mention(slack: Slack) -> None:
    asked = mention(slack, ADA, "new ticket")
    assert "what's the problem" in thread(slack, GENERAL, asked)[-1]["text"]
    in_general_thread(slack, TOM, asked, "me too, my screen is black")  # not Tom's conversation
    assert len(thread(slack, GENERAL, asked)) == 1
    in_general_thread(slack, ADA, asked, "my monitor flickers when I open Excel")
    assert "urgent" in thread(slack, GENERAL, asked)[-1]["text"]
    in_general_thread(slack, ADA, asked, "not urgent")  # typed instead of pressed
    opened = thread(slack, GENERAL, asked)[-1]["text"]
    assert "I've opened ticket #" in opened and "monitor flickers" in shown(slack.last_to(TRIAGE))
    assert slack.fake.posted("DUADA") == [] and slack.fake.posted("DUTOM") == []


def test_a_mention_inside_a_thread_is_answered_once_in_that_thread(slack: Slack) -> None:
    started = slack._ts()
    ts = mention(slack, ADA, "how do I set up the vpn", thread_ts=started)
    # Slack sends the same words as a `message` in the thread too: the mention is answered once
    event = {"type": "message", "channel_type": "channel", "channel": GENERAL, "user": ADA, "ts": ts}
    slack.event({**event, "thread_ts": started, "text": "<@UBOT> how do I set up the vpn"})
    answers = thread(slack, GENERAL, started)
    assert len(answers) == 1 and "Connect to the VPN" in shown(answers[0])


def test_a_reset_asked_in_a_channel_moves_to_the_dm_with_a_note_in_the_thread(slack: Slack) -> None:
    asked = mention(slack, ADA, "I forgot my password")
    in_thread = thread(slack, GENERAL, asked)
    assert [p["text"] for p in in_thread] == [MOVED_TO_DM.replace("'", "'")]
    for _ in range(3):  # chat_identity may ask to confirm with a button, in the DM
        last = slack.last_to("DUADA")
        if "temporary password" in last["text"]:
            break
        slack.press(ADA, last, buttons_of(last)[0]["action_id"])
    assert "Your temporary password is" in slack.last_to("DUADA")["text"]
    everything_in_general = "".join(shown(p) for p in slack.fake.posted(GENERAL))
    assert "temporary password" not in everything_in_general and "reset" not in everything_in_general.lower()


def test_a_button_pressed_in_the_thread_answers_there_and_cannot_be_pressed_twice(slack: Slack) -> None:
    asked = mention(slack, ADA, "my monitor flickers")
    answer = with_ts(slack, GENERAL, thread(slack, GENERAL, asked)[-1])
    slack.press(ADA, answer, button_id(answer, "Open a ticket"))
    urgency = with_ts(slack, GENERAL, thread(slack, GENERAL, asked)[-1])
    assert "urgent" in urgency["text"]
    pressed = [u for u in slack.fake.of("chat.update") if u["channel"] == GENERAL]
    assert pressed and buttons_of(pressed[-1]) == [] and "You chose" in shown(pressed[-1])
    slack.press(ADA, urgency, button_id(urgency, "Not urgent"))
    slack.press(ADA, urgency, button_id(urgency, "Not urgent"))  # an old copy of the message, pressed again
    assert len([p for p in slack.fake.posted(TRIAGE) if "thread_ts" not in p]) == 1  # one ticket
    assert "already ended" in thread(slack, GENERAL, asked)[-1]["text"]


def with_ts(slack: Slack, channel: str, params: dict[str, Any]) -> dict[str, Any]:
    """A message the fake received, with the ts it was given (what a press refers to)."""
    ts = next(t for (c, t), p in slack.fake.messages.items() if c == channel and p is params)
    return {**params, "ts": ts}


# ---------------------------------------------------------------- modals


def test_helpdesk_ticket_opens_a_modal_whose_submission_opens_the_ticket(slack: Slack) -> None:
    assert command(slack, ADA, "ticket", trigger="T-OPEN") == 200
    opened = slack.fake.of("views.open")
    assert [o["trigger_id"] for o in opened] == ["T-OPEN"]
    view = slack.fake.views()[0]
    assert {b["block_id"] for b in view["blocks"]} == {"urgency", "problem"}
    assert slack.fake.posted("DUADA") == []  # the modal, not a message
    refused = submit(slack, ADA, view, {"problem": " "}, trigger="T-1")
    assert refused["response_action"] == "errors" and set(refused["errors"]) == {"problem", "urgency"}
    assert slack.fake.posted(TRIAGE) == []
    accepted = submit(
        slack, ADA, view, {"problem": "the <!channel> printer jams", "urgency": "urgent"}, "T-2"
    )
    assert accepted.get("response_action") is None  # the modal closes
    card = slack.last_to(TRIAGE)
    assert (
        "printer jams" in shown(card)
        and "&lt;!channel&gt;" in card["text"]
        and "<!channel>" not in shown(card)
    )
    assert "I've opened ticket #" in slack.last_to("DUADA")["text"]


def test_a_modal_slack_would_not_open_falls_back_to_the_message(slack: Slack) -> None:
    slack.fake.expired_triggers.add("T-LATE")
    command(slack, ADA, "ticket", trigger="T-LATE")
    assert 'didn\'t open in time. Say "new ticket" here' in slack.last_to("DUADA")["text"]
    slack.dm(ADA, "new ticket")  # in the DM there is no trigger: the conversation asks
    assert "what's the problem" in slack.last_to("DUADA")["text"]


def test_resolve_asks_for_the_resolution_in_a_modal_and_the_requester_rates_in_the_dm(slack: Slack) -> None:
    number, card = open_ticket(slack)
    slack.press(TESS, card, f"ticket.claim:{number}")
    claimed = [u for u in slack.fake.of("chat.update") if u["channel"] == TRIAGE and u["ts"] == card["ts"]][
        -1
    ]
    slack.press(TESS, claimed, button_id(claimed, "Resolve"))
    view = slack.fake.views()[-1]
    assert (
        view["private_metadata"] == f"ticket.resolve_form:{number}" and f"#{number}" in view["title"]["text"]
    )
    refused = submit(slack, TESS, view, {"resolution": ""}, trigger="T-3")
    assert refused["response_action"] == "errors" and "resolution" in refused["errors"]
    assert submit(slack, TESS, view, {"resolution": "replaced the cable"}, trigger="T-4") == {}
    rating = slack.last_to("DUADA")
    assert "replaced the cable" in rating["text"] and "5 great" in {
        b["text"]["text"] for b in buttons_of(rating)
    }
    again = submit(slack, TESS, view, {"resolution": "once more"}, trigger="T-5")  # a second submission
    assert again["response_action"] == "errors"
    assert sum("is resolved" in p["text"] for p in slack.fake.posted("DUADA")) == 1


def test_someone_who_is_not_a_technician_cannot_resolve_through_a_forged_modal(slack: Slack) -> None:
    number, _card = open_ticket(slack)
    view = {
        "type": "modal",
        "callback_id": "frontdesk.form",
        "private_metadata": f"ticket.resolve_form:{number}",
    }
    view["blocks"] = [
        {"block_id": "resolution", "element": {"type": "plain_text_input", "action_id": "resolution"}}
    ]
    refused = submit(slack, ADA, view, {"resolution": "fixed it myself"}, trigger="T-6")
    assert refused["response_action"] == "errors" and "technician" in refused["errors"]["resolution"]


# ---------------------------------------------------------------- internal notes


def test_an_internal_note_is_marked_in_the_card_thread_and_never_reaches_the_requester(slack: Slack) -> None:
    number, card = open_ticket(slack)
    slack.press(TESS, card, f"ticket.claim:{number}")
    slack.in_thread(TESS, card["ts"], "note: the cable looks chewed <!here>")
    note = thread(slack, TRIAGE, card["ts"])[-1]
    assert "Internal note by Tess Tech" in note["text"] and "the cable looks chewed" in note["text"]
    assert "&lt;!here&gt;" in note["text"]
    assert blocks_of(note)[-1]["type"] == "context" and "🔒" in json.dumps(
        blocks_of(note), ensure_ascii=False
    )
    assert all("chewed" not in shown(p) for p in slack.fake.posted("DUADA"))
    slack.in_thread(TESS, card["ts"], "Is the cable chewed on your side too?")  # a reply still reaches her
    assert "Is the cable chewed on your side too?" in slack.last_to("DUADA")["text"]


# ---------------------------------------------------------------- files


def test_the_digest_chart_is_uploaded_with_the_digest_message(
    slack: Slack, frozen_clock: Any, tmp_path: Path
) -> None:
    frozen_clock(datetime(2026, 12, 1, 8, 31, tzinfo=UTC))
    slack.bot.app.bot.run_job("post_digest", digest_report.post_digest)
    slack.bot.app.delivery.dispatcher.run_due()
    posted = slack.last_to(DIGEST)
    assert "Service desk digest" in posted["text"]
    chart = tmp_path / "digest-2026-11-30-2026-11-30.png"
    upload = [f for f in slack.fake.shared_files if f["channel"] == DIGEST]
    assert (
        len(upload) == 1 and upload[0]["data"] == chart.read_bytes() and upload[0]["data"][:4] == b"\x89PNG"
    )
    asked = slack.fake.of("files.getUploadURLExternal")[-1]
    assert asked["filename"] == chart.name and int(asked["length"]) == len(chart.read_bytes())


def test_a_managers_digest_command_uploads_the_chart_to_their_dm(slack: Slack) -> None:
    slack.dm(GRACE, "digest")
    assert "Service desk digest" in slack.last_to("DUGRACE")["text"]
    assert [f["channel"] for f in slack.fake.shared_files] == ["DUGRACE"]


def test_a_file_goes_into_the_same_thread_as_its_message_intact(slack: Slack, tmp_path: Path) -> None:
    picture = tmp_path / "chart.png"
    picture.write_bytes(PNG)
    ref = slack.bot.deliverer.send(
        {"user": ADA},
        Reply("ada@example.com", "here", place=f"{GENERAL}:1700000999.000001", attachment=str(picture)),
    )
    assert ref["channel"] == GENERAL
    (shared,) = slack.fake.shared_files
    assert (
        shared["data"] == PNG and shared["thread_ts"] == "1700000999.000001" and shared["channel"] == GENERAL
    )


def test_a_missing_file_does_not_unsend_the_message(slack: Slack, tmp_path: Path) -> None:
    ref = slack.bot.deliverer.send(
        {"user": ADA}, Reply("ada@example.com", "hi", attachment=str(tmp_path / "gone.png"))
    )
    assert (ref["channel"], ref["ts"]) in slack.fake.messages and slack.fake.shared_files == []


# ---------------------------------------------------------------- App Home


def press_on_home(slack: Slack, user: str, button: str, trigger: str) -> int:
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": user},
        "api_app_id": "A0001",
        "token": "legacy",
        "trigger_id": trigger,
        "container": {"type": "view", "view_id": "V1"},
        "view": {"id": "V1", "type": "home"},
        "actions": [{"type": "button", "action_id": button, "value": button, "action_ts": slack._ts()}],
    }
    return slack.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")


def test_an_opened_app_home_is_republished_once_after_a_burst_of_changes(
    slack: Slack, frozen_clock: Any
) -> None:
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    frozen_clock(start)
    open_home(slack, ADA)
    open_home(slack, TESS)
    number, card = open_ticket(slack)
    slack.press(TESS, card, f"ticket.claim:{number}")
    slack.in_thread(TESS, card["ts"], "On it, which monitor?")
    frozen_clock(start + timedelta(seconds=3))
    slack.bot.app.bot.run_job("refresh_home_pages", home.refresh_home_pages)
    slack.bot.app.delivery.dispatcher.run_due()
    published = {
        user: [p for p in slack.fake.of("views.publish") if p["user_id"] == user] for user in (ADA, TESS)
    }
    assert len(published[ADA]) == 2 and len(published[TESS]) == 2  # opened, then one redraw each
    redrawn = json.dumps(published[ADA][-1]["view"])
    assert f"#{number}" in redrawn and "with tess@example.com" in redrawn
    assert "Your claims" in json.dumps(published[TESS][-1]["view"])


def test_new_ticket_on_the_app_home_opens_the_modal(slack: Slack) -> None:
    open_home(slack, ADA)
    assert press_on_home(slack, ADA, "new_ticket.open", trigger="T-HOME") == 200
    assert [o["trigger_id"] for o in slack.fake.of("views.open")] == ["T-HOME"]
    assert slack.fake.views()[0]["private_metadata"] == "new_ticket.form"


# ---------------------------------------------------------------- the reset against a real directory


def test_a_reset_through_slack_against_slapd_posts_the_password_only_in_the_dm_then_deletes_it(
    fake_slack: FakeSlack, sqlite_url: str, slapd: DirectoryServer, smtp_server: Mailbox, frozen_clock: Any
) -> None:
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    frozen_clock(start)
    eve = slapd.create_user(name="Eve Employee", recovery_email="eve.private@example.net")
    fake_slack.add_user("UEVE", eve.email, "Eve Employee")
    fake_slack.channels.add(GENERAL)
    options = {
        "smtp_host": smtp_server.host,
        "smtp_port": smtp_server.port,
        "reset_verification": "email_code",
    }
    directory = LdapDirectory(slapd.config())
    with running_slack(fake_slack, sqlite_url, directory=directory, **options) as slack:
        asked = mention(slack, "UEVE", "I forgot my password")  # in a channel
        assert [p["text"] for p in thread(slack, GENERAL, asked)] == [MOVED_TO_DM]
        assert "code" in slack.last_to("DUEVE")["text"]
        code = re.search(
            r"\b(\d{6})\b", str(smtp_server.wait_for("eve.private@example.net")[-1].get_payload())
        )
        assert code is not None
        in_general_thread(slack, "UEVE", asked, code[1])  # typed in the thread: still answered in the DM
        secret = slack.last_to("DUEVE")
        password = re.search(r"Your temporary password is:?\s*`?(\S+?)`?(?:\s|$)", secret["text"])
        assert password is not None and slapd.try_bind(eve.dn, password[1]).ok
        assert "deleted in" in shown(secret)
        sent = [*slack.fake.posted(), *slack.fake.of("chat.update"), *slack.fake.of("views.publish")]
        carrying = [p for p in sent if password[1] in json.dumps(p, ensure_ascii=False)]
        assert [(p["channel"], p["text"]) for p in carrying] == [("DUEVE", secret["text"])]  # once, in the DM
        assert [p["text"] for p in thread(slack, GENERAL, asked)] == [MOVED_TO_DM, MOVED_TO_DM]
        slack.bot.app.delivery.dispatcher.run_due()
        assert slack.fake.deleted == []
        frozen_clock(start + timedelta(seconds=601))
        slack.bot.app.delivery.dispatcher.run_due()
        assert slack.fake.deleted == [("DUEVE", secret["ts"])]


# ---------------------------------------------------------------- Slack's limits


def test_a_long_answer_reaches_slack_split_within_its_limits_and_escaped(slack: Slack) -> None:
    paragraph = "Open Settings, then Network, then VPN, and choose the office profile. <!channel> " * 20
    slack.bot.deliverer.send({"user": ADA}, Reply("ada@example.com", "\n".join([paragraph] * 6)))
    posted = slack.last_to("DUADA")
    sections = [b["text"]["text"] for b in blocks_of(posted) if b["type"] == "section"]
    assert len(sections) > 1 and all(len(text) <= 3000 for text in sections)
    assert len(blocks_of(posted)) <= 50 and len(posted["text"]) <= 3000
    assert "<!channel>" not in shown(posted) and "".join(sections).count("&lt;!channel&gt;") == 120
