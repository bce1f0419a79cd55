"""The Slack `Deliverer`: chat.postMessage, chat.update and chat.delete through slack_sdk's WebClient;
views.open for a form (a modal), views.publish for the App Home, files_upload_v2 for an attachment.

Not inline: the dispatcher's background thread delivers, so Slack's rate limits (a 429 waits for
Retry-After) and a slow Web API never hold up the thread that acknowledged the event, and a failure is
retried with back-off from the outbox instead of being lost. Secrets are the exception the outbox makes
itself: delivered from memory right after the commit (bot/delivery/service.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.delivery.port import Address, DeliveryError, MessageRef, Payload
from bot.messages import Reply
from bot.platforms.slack.blocks import modal, render
from bot.platforms.slack.threads import parse_place

log = structlog.get_logger(__name__)
# Errors no retry can fix: the outbox marks the row dead at once.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "user_not_found",
        "users_not_found",
        "account_inactive",
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "missing_scope",
        "msg_too_long",
        "invalid_blocks",
        "cant_update_message",
        "edit_window_closed",
        "cant_delete_message",
        "restricted_action",
        "user_is_bot",
    }
)
LOOKUP_TTL_SECONDS = 600.0
HOME_TOPIC = "home"  # handlers/home.py: the reply that is the person's App Home


def make_client(token: str, base_url: str, *, max_retries: int = 3) -> WebClient:
    """A WebClient that waits out a 429's Retry-After and retries a dropped connection."""
    return WebClient(
        token=token,
        base_url=base_url if base_url.endswith("/") else base_url + "/",
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=max_retries),
            ConnectionErrorRetryHandler(max_retry_count=max_retries),
        ],
    )


class SlackDeliverer:
    platform = "slack"
    inline = False

    def __init__(
        self,
        client: WebClient,
        channels: dict[str, str],
        card_ts: Callable[[int], str | None] = lambda _ticket: None,
        *,
        triage: str = "triage",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.channels = {name: cid for name, cid in channels.items() if cid}  # "triage" -> "C0123"
        self.card_ts = card_ts  # a ticket's card in triage, whose thread its other triage lines go to
        self.triage = triage  # the name handlers post to ("#triage")
        self._clock = clock
        self._users: dict[str, tuple[str | None, float]] = {}  # email -> (user id or None, expires)
        self._dms: dict[str, str] = {}  # user id -> DM channel id (never changes)
        self._lock = threading.Lock()

    # --- the Deliverer port -----------------------------------------------------------------------------

    def route(self, recipient: str, identity: dict[str, Any] | None) -> Address | None:
        if recipient.startswith("#"):
            channel = self.channels.get(recipient[1:])
            return {"channel": channel} if channel else None
        if identity and identity.get("user_id"):
            return {"user": identity["user_id"]}
        user = self._user_by_email(recipient)
        return {"user": user} if user else None

    def send(self, address: Address, payload: Payload) -> MessageRef:
        reply = _chat_reply(payload)
        if reply.topic == HOME_TOPIC and "user" in address:
            return self._publish_home(address["user"], reply)
        if reply.form_errors:
            return {"form_errors": True}  # the adapter showed them in the modal, in its acknowledgement
        if reply.form is not None and reply.trigger:
            opened = self._open_form(reply)
            if opened is not None:
                return opened
        channel, thread = self._where(reply, address)
        extra: dict[str, Any] = {"thread_ts": thread} if thread else {}
        response = self._call(
            "chat.postMessage",
            lambda: self.client.chat_postMessage(
                channel=channel, unfurl_links=False, unfurl_media=False, **render(reply), **extra
            ),
        )
        ref = {"channel": response["channel"], "ts": response["ts"]}
        if reply.attachment:
            self._upload(reply.attachment, ref["channel"], thread)
        return ref

    def update(self, ref: MessageRef, payload: Payload) -> MessageRef:
        reply = _chat_reply(payload)
        self._call(
            "chat.update",
            lambda: self.client.chat_update(channel=ref["channel"], ts=ref["ts"], **render(reply)),
        )
        return {"channel": ref["channel"], "ts": ref["ts"]}

    def delete(self, ref: MessageRef) -> None:
        try:
            self._call("chat.delete", lambda: self.client.chat_delete(channel=ref["channel"], ts=ref["ts"]))
        except DeliveryError as error:
            if error.reason != "message_not_found":  # already gone (someone deleted it): done
                raise

    # --- helpers --------------------------------------------------------------------------------------

    def _publish_home(self, user: str, reply: Reply) -> MessageRef:
        """The person's App Home tab, replaced as a whole (views.publish)."""
        blocks = render(reply)["blocks"]
        self._call(
            "views.publish",
            lambda: self.client.views_publish(user_id=user, view={"type": "home", "blocks": blocks}),
        )
        return {"home": user}

    def _where(self, reply: Reply, address: Address) -> tuple[str, str | None]:
        """(channel, thread ts): the thread the person wrote in, a ticket's card thread, or the address."""
        place = parse_place(reply.place) if reply.place and "user" in address else None
        if place is not None:
            return place
        return address.get("channel") or self._dm(address["user"]), self._thread_for(reply, address)

    def _open_form(self, reply: Reply) -> MessageRef | None:
        """The form as a modal; None when Slack would not open it (the trigger expired after 3 s): then
        the reply's text is posted instead, and it says how to go on in the conversation."""
        assert reply.form is not None
        view = modal(reply.form)
        try:
            response = self._call(
                "views.open", lambda: self.client.views_open(trigger_id=reply.trigger, view=view)
            )
        except DeliveryError as error:
            log.info("slack_modal_not_opened", error=error.reason)
            return None
        return {"view": str((response.get("view") or {}).get("id", ""))}

    def _upload(self, path: str, channel: str, thread: str | None) -> None:
        """The attachment, uploaded next to the message it belongs to (files_upload_v2: an upload URL, the
        bytes, then completeUploadExternal with the channel and thread). The message is already posted:
        a failed upload is logged, not retried — retrying would post the message twice."""
        file = Path(path)
        try:
            self._call(
                "files_upload_v2",
                lambda: self.client.files_upload_v2(
                    file=str(file), filename=file.name, title=file.stem, channel=channel, thread_ts=thread
                ),
            )
        except (DeliveryError, OSError) as error:
            log.warning("slack_attachment_not_uploaded", file=file.name, error=type(error).__name__)

    def _thread_for(self, reply: Reply, address: Address) -> str | None:
        """A triage line about a ticket goes in the thread of the ticket's card (the card itself does not)."""
        if reply.ticket is None or "channel" not in address or reply.topic == f"ticket:{reply.ticket}":
            return None
        if address["channel"] != self.channels.get(self.triage):
            return None
        return self.card_ts(reply.ticket)

    def _dm(self, user: str) -> str:
        with self._lock:
            if user in self._dms:
                return self._dms[user]
        response = self._call("conversations.open", lambda: self.client.conversations_open(users=user))
        channel = str(response["channel"]["id"])
        with self._lock:
            self._dms[user] = channel
        return channel

    def _user_by_email(self, email: str) -> str | None:
        """users.lookupByEmail, remembered (found or not) for a while: routing runs on every message."""
        with self._lock:
            cached = self._users.get(email)
            if cached and cached[1] > self._clock():
                return cached[0]
        try:
            user: str | None = str(self.client.users_lookupByEmail(email=email)["user"]["id"])
        except SlackApiError as error:
            if _code(error) not in ("users_not_found", "user_not_found"):
                log.warning("slack_lookup_failed", error=_code(error))
                return None  # not remembered: Slack may answer next time
            user = None
        except SlackClientError as error:
            log.warning("slack_lookup_failed", error=type(error).__name__)
            return None
        with self._lock:
            self._users[email] = (user, self._clock() + LOOKUP_TTL_SECONDS)
        return user

    @staticmethod
    def _call(method: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except SlackApiError as error:
            code = _code(error)
            raise DeliveryError(code, permanent=code in PERMANENT_ERRORS) from None
        except (SlackClientError, OSError) as error:  # the connection, after slack_sdk's own retries
            raise DeliveryError(f"{method}: {type(error).__name__}") from None


def _chat_reply(payload: Payload) -> Reply:
    if not isinstance(payload, Reply):
        raise DeliveryError("Slack delivers chat messages, not emails", permanent=True)
    return payload


def _code(error: SlackApiError) -> str:
    return str(error.response.get("error", "unknown_error")) if error.response is not None else "unknown"
