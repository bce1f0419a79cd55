"""Slack events and button presses → `Inbound`s for the core. Translates; never decides.

- A DM (`message` in an `im`) or an @mention is a message from the person; Slack's event id becomes the
  `Inbound.event_id`, so a retried delivery (`X-Slack-Retry-Num`, same id) is handled once by the engine.
- An @mention in a channel is answered in its thread: the thread is the `Inbound.place` (the core moves a
  private conversation to the DM), and the person's later messages in a thread the bot answered them in
  are follow-ups without a new mention.
- A reply in the thread of a ticket's card in the triage channel is a message about that ticket
  (`Inbound.thread_ticket`).
- A button press is `Inbound(action=button id)`; outside the triage channel the pressed message is first
  updated to say what was chosen, so it cannot be pressed twice (a triage card keeps its buttons: it is
  shared, and the core tells the second technician who has the ticket).
- Presses and commands carry Slack's `trigger_id` (`Inbound.trigger`), with which the core's answer may
  open a modal; a submitted modal is `Inbound(action=<the form's action>, values=…)`, and the core's
  objections come back as the modal's field errors, in the acknowledgement itself.
- Opening the App Home tab is `Inbound(action="home.open")`; the core's answer is published there.
- `/helpdesk reset|unlock|access [what]|ticket|tickets|help` is the same as saying it in the DM.
- Bots, the bot itself and message edits are ignored.

Ack first, work after: bolt acknowledges events at once and runs the listener in its thread pool
(`process_before_response=False`); a button's listener calls `ack()` before anything else. Tests set
`process_before_response=True`, which makes the dispatch synchronous.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.messages import Inbound, Person, Reply
from bot.platforms.slack.blocks import FORM_CALLBACK, escape, form_values, unescape
from bot.platforms.slack.threads import place_of

log = structlog.get_logger(__name__)
PEOPLE_TTL_SECONDS = 600.0
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
SLASH_COMMAND = "/helpdesk"
HOME_ACTION = "home.open"  # handlers/home.py
# `/helpdesk WORD …` in the words the core already understands; anything else is passed as typed.
SUBCOMMANDS = {
    "reset": "reset my password",
    "unlock": "I'm locked out",
    "ticket": "new ticket",
    "tickets": "my tickets",
    "help": "help",
}


@dataclass(frozen=True)
class Workspace:
    """Who the bot is in Slack (from auth.test) and where triage is."""

    bot_user_id: str
    team_id: str
    triage_channel: str


class People:
    """Slack user id → `Person`, from users.info, remembered for a while (names and guest status change
    rarely; the identities table keeps the mapping for delivery)."""

    def __init__(
        self, client: WebClient, team_id: str, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client = client
        self.team_id = team_id
        self._clock = clock
        self._cache: dict[str, tuple[Person | None, float]] = {}
        self._lock = threading.Lock()

    def get(self, user_id: str) -> Person | None:
        with self._lock:
            cached = self._cache.get(user_id)
            if cached and cached[1] > self._clock():
                return cached[0]
        try:
            user = self.client.users_info(user=user_id)["user"]
        except (SlackApiError, SlackClientError) as error:
            log.warning("slack_users_info_failed", error=type(error).__name__)
            return None  # not remembered: the next event asks again
        person = self._person(user)
        with self._lock:
            self._cache[user_id] = (person, self._clock() + PEOPLE_TTL_SECONDS)
        return person

    def _person(self, user: dict[str, Any]) -> Person | None:
        if user.get("is_bot") or user.get("deleted"):
            return None
        profile = user.get("profile") or {}
        email = str(profile.get("email") or "").strip().lower()
        if not email:
            return None  # without users:read.email, or a bot: nobody the directory could know
        team = str(user.get("team_id") or "")
        # Guests, Slack Connect strangers and other workspaces' people may open tickets, nothing sensitive.
        foreign = bool(user.get("is_stranger")) or bool(team and self.team_id and team != self.team_id)
        guest = bool(user.get("is_restricted") or user.get("is_ultra_restricted")) or foreign
        name = str(profile.get("real_name") or user.get("real_name") or user.get("name") or email)
        return Person("slack", str(user["id"]), email, name, is_guest=guest, team=team)


class SlackAdapter:
    def __init__(
        self,
        handle: Callable[[Inbound], object],
        client: WebClient,
        workspace: Workspace,
        ticket_of_thread: Callable[[str, str], int | None],
        *,
        signing_secret: str,
        process_before_response: bool = False,
        people: People | None = None,
        in_conversation: Callable[[str, str, str], bool] = lambda _channel, _thread, _email: False,
    ) -> None:
        self.handle = handle
        self.client = client
        self.workspace = workspace
        self.ticket_of_thread = ticket_of_thread
        self.in_conversation = in_conversation  # (channel, thread_ts, email): the bot answered them there
        self.people = people or People(client, workspace.team_id)
        self.bolt = App(
            client=client,
            signing_secret=signing_secret,
            token_verification_enabled=False,  # auth.test was called once, for `workspace`
            process_before_response=process_before_response,
            ignoring_self_events_enabled=False,  # we know our own user id; see _from_a_person
            request_verification_enabled=True,
        )
        self.bolt.event("message")(self._on_message)
        self.bolt.event("app_mention")(self._on_mention)
        self.bolt.action(re.compile(r".+"))(self._on_action)
        self.bolt.command(SLASH_COMMAND)(self._on_command)
        self.bolt.event("app_home_opened")(self._on_home_opened)
        self.bolt.view_submission(FORM_CALLBACK)(self._on_form_submitted)

    # --- listeners --------------------------------------------------------------------------------------

    def _on_message(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        if not self._from_a_person(event):
            return
        channel = str(event.get("channel", ""))
        thread_ts = str(event.get("thread_ts") or "")
        if event.get("channel_type") == "im":
            self._deliver(event, body)
            return
        if not thread_ts or thread_ts == event.get("ts"):
            return  # a channel's own messages are not for the bot; an @mention arrives as app_mention
        if channel == self.workspace.triage_channel:
            ticket = self.ticket_of_thread(channel, thread_ts)
            if ticket is not None:
                self._deliver(event, body, thread_ticket=ticket)
            return
        if f"<@{self.workspace.bot_user_id}" in str(event.get("text") or ""):
            return  # an @mention in a thread arrives as app_mention too: handled there, once
        person = self.people.get(str(event["user"]))
        if person is not None and self.in_conversation(channel, thread_ts, person.email):
            self._deliver(event, body, place=place_of(channel, thread_ts))

    def _on_mention(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        if not self._from_a_person(event):
            return
        channel = str(event.get("channel", ""))
        thread_ts = str(event.get("thread_ts") or "")
        in_a_ticket_thread = channel == self.workspace.triage_channel and bool(thread_ts)
        if in_a_ticket_thread and self.ticket_of_thread(channel, thread_ts) is not None:
            return  # a mention in a ticket's thread arrives as a `message` event too: handled there
        self._deliver(event, body, place=place_of(channel, thread_ts or str(event.get("ts", ""))))

    def _on_action(self, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()  # within Slack's 3 s, before anything slow
        user_id = str((body.get("user") or {}).get("id", ""))
        person = self.people.get(user_id) if user_id else None
        button_id = str(action.get("value") or action.get("action_id") or "")
        if person is None or not button_id:
            return
        self._show_choice(body, action)
        container = body.get("container") or {}
        event_id = f"slack-action:{container.get('message_ts', '')}:{action.get('action_ts', '')}:{user_id}"
        inbound = Inbound(
            person=person,
            action=button_id,
            event_id=event_id,
            place=self._place_of_pressed(body),
            trigger=str(body.get("trigger_id") or ""),
        )
        self.handle(inbound)

    def _on_form_submitted(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """A modal the core asked for was submitted: handled before the acknowledgement, so what the core
        objects to is shown in the modal's fields (`response_action: errors`) and the modal stays open."""
        person = self.people.get(str((body.get("user") or {}).get("id", "")))
        action = str(view.get("private_metadata") or "")
        if person is None or not action:
            ack()
            return
        inbound = Inbound(
            person=person,
            action=action,
            event_id=f"slack-view:{view.get('id', '')}:{body.get('trigger_id', '')}",
            values=form_values(view),
        )
        said = self.handle(inbound)
        errors = {
            name: problem
            for reply in (said if isinstance(said, list) else [])
            if isinstance(reply, Reply) and reply.to == person.email
            for name, problem in reply.form_errors
        }
        if errors:
            ack(response_action="errors", errors=errors)
        else:
            ack()

    def _on_home_opened(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        """Opening the Home tab asks the core for the person's home page (handlers/home.py)."""
        if event.get("tab") != "home" or not event.get("user"):
            return
        person = self.people.get(str(event["user"]))
        if person is not None:
            event_id = str(body.get("event_id") or f"slack-home:{event['user']}:{event.get('event_ts')}")
            self.handle(Inbound(person=person, action=HOME_ACTION, event_id=event_id))

    def _on_command(self, ack: Ack, command: dict[str, Any]) -> None:
        """`/helpdesk tickets`: answered in the person's DM, where the conversation lives."""
        ack()
        person = self.people.get(str(command.get("user_id", "")))
        if person is None:
            return
        text = _in_words(unescape(str(command.get("text") or "")).strip())
        trigger = str(command.get("trigger_id") or "")
        event_id = f"slack-command:{trigger or command.get('command_ts', '')}"
        self.handle(Inbound(person=person, text=text.strip() or "help", event_id=event_id, trigger=trigger))

    # --- helpers ----------------------------------------------------------------------------------------

    def _from_a_person(self, event: dict[str, Any]) -> bool:
        """Not a bot, not ourselves, not an edit or a deletion (subtypes), and someone we can name."""
        if event.get("bot_id") or event.get("subtype") not in (None, "file_share", "thread_broadcast"):
            return False
        return bool(event.get("user")) and event.get("user") != self.workspace.bot_user_id

    def _deliver(
        self,
        event: dict[str, Any],
        body: dict[str, Any],
        *,
        thread_ticket: int | None = None,
        place: str = "",
    ) -> None:
        person = self.people.get(str(event["user"]))
        if person is None:
            log.info("slack_event_ignored", detail="no email for this Slack user (a bot, or missing scope)")
            return
        text = unescape(_MENTION.sub("", str(event.get("text") or ""))).strip()
        event_id = str(body.get("event_id") or f"slack:{event.get('channel')}:{event.get('ts')}")
        inbound = Inbound(
            person=person, text=text, event_id=event_id, thread_ticket=thread_ticket, place=place
        )
        self.handle(inbound)

    def _place_of_pressed(self, body: dict[str, Any]) -> str:
        """A button pressed on the bot's answer in a channel thread answers in that thread too."""
        channel = str((body.get("channel") or {}).get("id", ""))
        thread_ts = str((body.get("message") or {}).get("thread_ts") or "")
        if not thread_ts or channel.startswith("D") or channel == self.workspace.triage_channel:
            return ""
        return place_of(channel, thread_ts)

    def _show_choice(self, body: dict[str, Any], action: dict[str, Any]) -> None:
        """The pressed message's buttons become a line saying what was chosen (not on the shared cards of
        the triage channel, nor on the App Home tab, which is republished whole)."""
        channel = str((body.get("channel") or {}).get("id", ""))
        message = body.get("message") or {}
        if not channel or channel == self.workspace.triage_channel or not message.get("ts"):
            return
        label = str(((action.get("text") or {}).get("text")) or "")
        blocks = [b for b in message.get("blocks") or [] if b.get("type") != "actions"]
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"You chose: *{escape(label)}*"}]}
        )
        try:
            self.client.chat_update(
                channel=channel, ts=message["ts"], text=str(message.get("text") or label), blocks=blocks
            )
        except (SlackApiError, SlackClientError) as error:  # the choice still counts
            log.warning("slack_choice_not_shown", error=type(error).__name__)


def _in_words(typed: str) -> str:
    """`/helpdesk WORD …` as the person would say it in the DM ("access finance" → "I need access to
    finance"); anything else as typed."""
    word, _, rest = typed.partition(" ")
    word, rest = word.lower(), rest.strip()
    if word == "access":
        return f"I need access to {rest}" if rest else "what access do I have?"
    if word in SUBCOMMANDS:
        return f"{SUBCOMMANDS[word]} {rest}".strip()
    return typed
