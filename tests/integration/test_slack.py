"""Slack end to end: signed requests through the real HTTP adapter (slack-bolt), the real slack_sdk
talking to a fake Slack Web API over HTTP on 127.0.0.1, and the outbox delivering in between.

The bolt app runs with `process_before_response=True`, so each request is handled before it is answered;
the test then runs the dispatcher (the Slack deliverer is not inline) and reads what reached the fake.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier

from bot.delivery.port import DeliveryError
from bot.messages import Reply
from bot.platforms.slack.deliverer import make_client
from bot.platforms.slack.run import SlackBot, build_slack
from bot.platforms.slack.server import SlackHttpServer
from bot.settings import load_settings
from tests.conftest import build_app_for_tests
from tests.servers.fake_slack import TEAM, FakeSlack

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TRIAGE = "CTRIAGE"
ADA, TESS, TOM, GUEST = "UADA", "UTESS", "UTOM", "UGUEST"


class Slack:
    """Plays Slack's side: signs and posts events and button presses to the adapter's /slack/events."""

    def __init__(self, fake: FakeSlack, slack: SlackBot, server: SlackHttpServer) -> None:
        self.fake = fake
        self.bot = slack
        self.base = f"http://127.0.0.1:{server.port}"
        self._events = 0
        self.answered = b""  # the body of the adapter's last answer (a modal's field errors)

    # --- requests ---------------------------------------------------------------------------------------

    def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> int:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signed = SignatureVerifier(SECRET).generate_signature(timestamp=stamp, body=body)
        request = urllib.request.Request(
            self.base + "/slack/events",
            data=body.encode(),
            headers={
                "Content-Type": content_type,
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": signature or signed or "",
                **(headers or {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status = int(response.status)
                self.answered = response.read()
        except urllib.error.HTTPError as error:
            status, self.answered = error.code, b""
        self.bot.app.delivery.dispatcher.run_due()  # what the event said goes out
        return status

    def event(self, event: dict[str, Any], *, event_id: str = "", **options: Any) -> int:
        self._events += 1
        body = {
            "token": "legacy",
            "team_id": TEAM,
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": event_id or f"Ev{self._events:06d}",
            "event_time": int(time.time()),
            "event": event,
        }
        return self.post(json.dumps(body), "application/json", **options)

    def dm(self, user: str, text: str, **options: Any) -> int:
        event = {"type": "message", "channel_type": "im", "channel": "D" + user, "user": user}
        return self.event({**event, "text": text, "ts": self._ts()}, **options)

    def in_thread(self, user: str, thread_ts: str, text: str) -> int:
        event = {"type": "message", "channel_type": "channel", "channel": TRIAGE, "user": user}
        return self.event({**event, "text": text, "ts": self._ts(), "thread_ts": thread_ts})

    def press(self, user: str, message: dict[str, Any], button_id: str) -> int:
        """`user` presses the button `button_id` on a message the fake received (chat.postMessage params)."""
        channel, ts = message["channel"], message["ts"]
        label = next(b["text"]["text"] for b in buttons_of(message) if b["action_id"] == button_id)
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM},
            "user": {"id": user},
            "api_app_id": "A0001",
            "token": "legacy",
            "trigger_id": "1.2.3",
            "container": {"type": "message", "message_ts": ts, "channel_id": channel},
            "channel": {"id": channel},
            "message": {
                "ts": ts,
                "text": message.get("text", ""),
                "blocks": blocks_of(message),
                **({"thread_ts": message["thread_ts"]} if message.get("thread_ts") else {}),
            },
            "actions": [
                {
                    "type": "button",
                    "action_id": button_id,
                    "block_id": "b1",
                    "value": button_id,
                    "text": {"type": "plain_text", "text": label},
                    "action_ts": self._ts(),
                }
            ],
        }
        body = urlencode({"payload": json.dumps(payload)})
        return self.post(body, "application/x-www-form-urlencoded")

    def _ts(self) -> str:
        self._events += 1
        return f"1700001000.{self._events:06d}"

    # --- what reached Slack -----------------------------------------------------------------------------

    def last_to(self, channel: str) -> dict[str, Any]:
        posted = self.fake.posted(channel)
        assert posted, f"nothing was posted to {channel}"
        params = posted[-1]
        ts = next(t for (c, t), p in self.fake.messages.items() if c == channel and p is params)
        return {**params, "ts": ts}


def blocks_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = message.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else list(blocks)


def buttons_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in blocks_of(message) if b["type"] == "actions" for e in b["elements"]]


def button_id(message: dict[str, Any], label: str) -> str:
    for button in buttons_of(message):
        if button["text"]["text"].lower() == label.lower():
            return str(button["action_id"])
    raise AssertionError(f"no button {label!r} in {[b['text']['text'] for b in buttons_of(message)]}")


def shown(message: dict[str, Any]) -> str:
    """All the text a message shows, its blocks' included."""
    return str(message.get("text", "")) + json.dumps(blocks_of(message), ensure_ascii=False)


@contextmanager
def running_slack(fake: FakeSlack, url: str, *, directory: Any = None, **extra: Any) -> Iterator[Slack]:
    """The bot on `url`, built by bootstrap with the Slack deliverer, behind the real HTTP adapter
    (on the demo directory, or `directory`: a real LDAP server's)."""
    fake.add_user(ADA, "ada@example.com", "Ada Lovelace")
    fake.add_user(TESS, "tess@example.com", "Tess Tech")
    fake.add_user(TOM, "tom@example.com", "Tom Fixit")
    fake.add_user(GUEST, "bob@example.com", "Bob Guest", is_restricted=True)
    fake.channels.add(TRIAGE)
    options = {
        "slack_bot_token": "xoxb-test",
        "slack_signing_secret": SECRET,
        "slack_triage_channel": TRIAGE,
        "slack_api_url": fake.url,
        "reset_verification": "chat_identity",
        **extra,
    }
    settings = load_settings(database_url=url, **options)
    bot = build_slack(
        settings,
        build=lambda chat: build_app_for_tests(url, chat=chat, directory=directory, **options),
        client=make_client("xoxb-test", fake.url),
        process_before_response=True,
    )
    server = SlackHttpServer(bot.adapter.bolt, bot.ready, host="127.0.0.1", port=0)
    server.start()
    try:
        yield Slack(fake, bot, server)
    finally:
        server.stop()
        bot.app.engine.dispose()


@pytest.fixture
def slack(fake_slack: FakeSlack, sqlite_url: str) -> Iterator[Slack]:
    with running_slack(fake_slack, sqlite_url) as running:
        yield running


def open_ticket(slack: Slack, text: str = "my monitor flickers") -> tuple[int, dict[str, Any]]:
    """Ada asks something the KB cannot answer and opens a ticket: (its number, its triage card)."""
    assert slack.dm(ADA, text) == 200
    answer = slack.last_to("DUADA")
    slack.press(ADA, answer, button_id(answer, "Open a ticket"))
    urgency = slack.last_to("DUADA")
    slack.press(ADA, urgency, button_id(urgency, "Not urgent"))
    card = slack.last_to(TRIAGE)
    number = int(card["text"].split("#", 1)[1].split()[0])
    return number, card


# ---------------------------------------------------------------- the HTTP front door


def test_a_bad_signature_is_refused_with_401(slack: Slack) -> None:
    assert slack.dm(ADA, "how do I set up the vpn", signature="v0=" + "0" * 64) == 401
    assert slack.fake.posted() == []


def test_a_stale_timestamp_is_refused_with_401(slack: Slack) -> None:
    assert slack.dm(ADA, "how do I set up the vpn", timestamp=int(time.time()) - 600) == 401
    assert slack.fake.posted() == []


def test_health_and_readiness_are_served(slack: Slack) -> None:
    for path in ("/healthz", "/readyz"):
        with urllib.request.urlopen(slack.base + path, timeout=10) as response:
            assert response.status == 200


# ---------------------------------------------------------------- employees


def test_an_employees_dm_question_is_answered_with_blocks(slack: Slack) -> None:
    assert slack.dm(ADA, "how do I set up the vpn on my laptop") == 200
    answer = slack.last_to("DUADA")
    assert "Connect to the VPN" in shown(answer)
    assert {"That solved it", "Not what I need"} <= {b["text"]["text"] for b in buttons_of(answer)}
    assert blocks_of(answer)[0]["type"] == "section"


def test_a_pressed_button_shows_the_choice_and_not_helpful_leads_to_a_triage_card(slack: Slack) -> None:
    number, card = open_ticket(slack)
    pressed = [u for u in slack.fake.of("chat.update") if u["channel"] == "DUADA"]
    assert pressed and "You chose" in shown(pressed[0]) and buttons_of(pressed[0]) == []
    assert f"#{number}" in card["text"] and "Ada Lovelace" in shown(card)
    assert {"Claim", "Details"} <= {b["text"]["text"] for b in buttons_of(card)}
    assert any(b["type"] == "section" and "fields" in b for b in blocks_of(card))


def test_a_retried_event_acts_once(slack: Slack) -> None:
    first = slack.dm(ADA, "how do I set up the vpn", event_id="EvRETRY")
    again = slack.dm(ADA, "how do I set up the vpn", event_id="EvRETRY", headers={"X-Slack-Retry-Num": "1"})
    assert (first, again) == (200, 200)
    assert len(slack.fake.posted("DUADA")) == 1


def test_a_guest_is_refused_a_reset(slack: Slack) -> None:
    slack.dm(GUEST, "I forgot my password")
    refusal = slack.last_to("DUGUEST")
    assert "guest" in refusal["text"] and "Your temporary password" not in shown(refusal)


def test_someone_from_another_workspace_is_refused_a_reset(slack: Slack) -> None:
    slack.fake.add_user("UFOREIGN", "ada@example.com", "Ada Elsewhere", team="T9999")
    slack.dm("UFOREIGN", "I forgot my password")
    refusal = slack.last_to("DUFOREIGN")
    assert "guest and external accounts" in refusal["text"] and "temporary password is" not in shown(refusal)


def test_a_mention_in_a_channel_is_answered_in_its_thread(slack: Slack) -> None:
    slack.fake.channels.add("CGENERAL")
    event = {"type": "app_mention", "channel": "CGENERAL", "user": ADA, "ts": slack._ts()}
    assert slack.event({**event, "text": "<@UBOT> how do I set up the vpn"}) == 200
    answer = slack.last_to("CGENERAL")
    assert "Connect to the VPN" in shown(answer) and answer["thread_ts"] == event["ts"]
    assert slack.fake.posted("DUADA") == []


def test_a_429_is_retried_after_retry_after(slack: Slack) -> None:
    slack.fake.rate_limit("chat.postMessage")
    slack.dm(ADA, "how do I set up the vpn")
    attempts = slack.fake.posted("DUADA")
    assert len(attempts) == 2  # the rate-limited call and its retry
    assert ("DUADA", slack.last_to("DUADA")["ts"]) in slack.fake.messages


def test_bots_and_the_bot_itself_are_ignored(slack: Slack) -> None:
    slack.event({"type": "message", "channel_type": "im", "channel": "DUADA", "user": "UBOT", "text": "hi"})
    slack.event({"type": "message", "channel_type": "im", "channel": "DUADA", "bot_id": "B9", "text": "vpn"})
    assert slack.fake.posted() == []


def test_the_helpdesk_command_answers_in_the_dm(slack: Slack) -> None:
    body = urlencode(
        {
            "command": "/helpdesk",
            "text": "tickets",
            "user_id": ADA,
            "team_id": TEAM,
            "channel_id": "CGENERAL",
            "trigger_id": "9.9.9",
            "api_app_id": "A0001",
            "token": "legacy",
        }
    )
    assert slack.post(body, "application/x-www-form-urlencoded") == 200
    assert "You have no tickets" in slack.last_to("DUADA")["text"]


# ---------------------------------------------------------------- technicians


def test_claims_update_the_card_and_the_second_technician_is_told_it_is_taken(slack: Slack) -> None:
    number, card = open_ticket(slack)
    slack.press(TESS, card, f"ticket.claim:{number}")
    slack.press(TOM, card, f"ticket.claim:{number}")
    assert "already claimed by Tess Tech" in slack.last_to("DUTOM")["text"]
    updates = [u for u in slack.fake.of("chat.update") if u["channel"] == TRIAGE and u["ts"] == card["ts"]]
    assert updates and "Tess Tech" in shown(updates[-1])
    assert "Claim" not in {b["text"]["text"] for b in buttons_of(updates[-1])}


def test_the_card_thread_and_the_dm_carry_the_conversation_both_ways(slack: Slack) -> None:
    number, card = open_ticket(slack)
    slack.press(TESS, card, f"ticket.claim:{number}")
    slack.in_thread(TESS, card["ts"], "Does it flicker on battery too?")
    assert "Does it flicker on battery too?" in slack.last_to("DUADA")["text"]
    slack.dm(ADA, "yes, on battery as well <!channel>")
    in_thread = [p for p in slack.fake.posted(TRIAGE) if p.get("thread_ts") == card["ts"]]
    assert in_thread and "yes, on battery as well" in in_thread[-1]["text"]
    assert "&lt;!channel&gt;" in in_thread[-1]["text"] and "<!channel>" not in shown(in_thread[-1])


def test_channel_typed_by_an_employee_reaches_triage_escaped(slack: Slack) -> None:
    _number, card = open_ticket(slack, "<!channel> my screen is black <@UTESS> <http://evil.example|bank>")
    everything = "".join(shown(p) for p in slack.fake.posted(TRIAGE)) + shown(card)
    assert "<!channel>" not in everything and "<@UTESS>" not in everything and "<http" not in everything
    assert "&lt;!channel&gt;" in card["text"]


def test_resolve_asks_the_requester_for_a_rating_in_their_dm(slack: Slack) -> None:
    number, card = open_ticket(slack)
    slack.press(TESS, card, f"ticket.claim:{number}")
    slack.dm(TESS, f"resolve {number} replaced the cable")
    rating = slack.last_to("DUADA")
    assert "resolved" in rating["text"] and "5 great" in {b["text"]["text"] for b in buttons_of(rating)}
    updates = [u for u in slack.fake.of("chat.update") if u["channel"] == TRIAGE and u["ts"] == card["ts"]]
    assert "resolved" in shown(updates[-1])


def open_home(slack: Slack, user: str) -> dict[str, Any]:
    event = {"type": "app_home_opened", "user": user, "channel": "D" + user, "tab": "home"}
    assert slack.event({**event, "event_ts": slack._ts()}) == 200
    published = [p for p in slack.fake.of("views.publish") if p["user_id"] == user]
    assert published, f"no App Home was published for {user}"
    view = published[-1]["view"]
    return json.loads(view) if isinstance(view, str) else dict(view)


def test_app_home_shows_an_employee_their_tickets_and_a_technician_the_queue(slack: Slack) -> None:
    number, _card = open_ticket(slack, "the <b>scanner</b> on floor 3 jams")
    home = open_home(slack, ADA)
    assert home["type"] == "home" and "Your open tickets" in json.dumps(home)
    assert f"#{number}" in json.dumps(home) and "&lt;b&gt;scanner" in json.dumps(home)
    queue = open_home(slack, TESS)
    assert "Waiting for a technician" in json.dumps(queue)
    claim = [e for b in queue["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert f"ticket.claim:{number}" in {e["action_id"] for e in claim}
    assert len(slack.fake.posted("DUTESS")) == 0  # the home page is not a message


# ---------------------------------------------------------------- secrets


def test_the_temporary_password_is_posted_in_the_dm_and_deleted_after_its_ttl(
    slack: Slack, frozen_clock: Any
) -> None:
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    frozen_clock(start)
    slack.dm(ADA, "I forgot my password")
    for _ in range(3):  # chat_identity may ask to confirm with a button
        last = slack.last_to("DUADA")
        if "temporary password" in last["text"]:
            break
        slack.press(ADA, last, buttons_of(last)[0]["action_id"])
    secret = slack.last_to("DUADA")
    assert "Your temporary password is" in secret["text"] and "deleted in" in shown(secret)
    assert all("temporary password is" not in shown(p) for p in slack.fake.posted(TRIAGE))
    slack.bot.app.delivery.dispatcher.run_due()
    assert slack.fake.of("chat.delete") == []  # not yet
    frozen_clock(start + timedelta(seconds=601))
    slack.bot.app.delivery.dispatcher.run_due()
    assert slack.fake.deleted == [("DUADA", secret["ts"])]


def test_the_card_thread_works_on_postgresql(fake_slack: FakeSlack, fresh_postgres_url: str) -> None:
    with running_slack(fake_slack, fresh_postgres_url) as slack:
        number, card = open_ticket(slack)
        slack.in_thread(TESS, card["ts"], "Which monitor is it?")
        assert f"about ticket #{number}: Which monitor is it?" in slack.last_to("DUADA")["text"]


# ---------------------------------------------------------------- the deliverer


def test_someone_who_never_wrote_is_reached_by_email_lookup(slack: Slack) -> None:
    deliverer = slack.bot.deliverer
    assert deliverer.route("tom@example.com", None) == {"user": TOM}
    assert deliverer.route("nobody@example.com", None) is None
    assert deliverer.route("#triage", None) == {"channel": TRIAGE}
    assert deliverer.route("#elsewhere", None) is None
    ref = deliverer.send({"user": TOM}, Reply("tom@example.com", "hello"))
    assert ref["channel"] == "DUTOM" and (ref["channel"], ref["ts"]) in slack.fake.messages


def test_a_channel_slack_does_not_have_is_a_permanent_failure(slack: Slack) -> None:
    with pytest.raises(DeliveryError) as failure:
        slack.bot.deliverer.send({"channel": "CGONE"}, Reply("#triage", "hello"))
    assert failure.value.permanent and failure.value.reason == "channel_not_found"
