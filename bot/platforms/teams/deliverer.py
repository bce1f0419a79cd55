"""The Teams `Deliverer`: what the bot says, posted to, updated in and deleted from Teams through the Bot
Connector, from the conversation reference the adapter stored when the person last wrote.

Addresses: the triage channel is `{service_url, conversation}` from the settings; a person is their stored
reference `{service_url, user_id (29:…), tenant, conversation?}` — without a conversation yet (they only
ever wrote in a channel) a 1:1 conversation is opened first. Service URLs come only from activities the
SDK authenticated (the token's `serviceurl` claim must equal the activity's) or from the settings.

Not inline: the dispatcher's background thread delivers, so the HTTP request Teams sent is answered at once
and a slow or failing Bot Connector is retried from the outbox.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from bot.delivery.port import Address, DeliveryError, MessageRef, Payload
from bot.messages import Reply
from bot.platforms.teams.cards import render
from bot.platforms.teams.connector import Connector

PLATFORM = "teams"


class TeamsDeliverer:
    platform = PLATFORM
    inline = False

    def __init__(
        self,
        connector: Connector,
        channels: dict[str, str],
        *,
        service_url: str = "",
        card_of_ticket: Callable[[int], str | None] = lambda _ticket: None,
        triage: str = "triage",
    ) -> None:
        self.connector = connector
        self.channels = {name: cid for name, cid in channels.items() if cid}  # "triage" -> "19:…"
        self.service_url = service_url
        self.card_of_ticket = card_of_ticket  # a ticket's card in triage, whose thread its lines go to
        self.triage = triage
        self._personal: dict[str, str] = {}  # user id -> 1:1 conversation id (never changes)
        self._lock = threading.Lock()

    # --- the Deliverer port -----------------------------------------------------------------------------

    def route(self, recipient: str, identity: dict[str, Any] | None) -> Address | None:
        if recipient.startswith("#"):
            conversation = self.channels.get(recipient[1:])
            if conversation and self.service_url:
                return {"service_url": self.service_url, "conversation": conversation}
            return None
        if not identity or not identity.get("service_url"):
            return None  # Teams cannot find a person by email; they are reached once they wrote
        if not (identity.get("conversation") or (identity.get("user_id") and identity.get("tenant"))):
            return None
        keys = ("service_url", "conversation", "user_id", "tenant")
        return {key: identity[key] for key in keys if identity.get(key)}

    def send(self, address: Address, payload: Payload) -> MessageRef:
        reply = _chat_reply(payload)
        service_url = _service_url(address)
        conversation = address.get("conversation") or self._open_personal(address)
        thread = self._thread_for(reply, conversation)
        activity_id = self.connector.post_activity(
            service_url, conversation, render(reply), reply_to=thread or ""
        )
        return {"service_url": service_url, "conversation": conversation, "activity": activity_id}

    def update(self, ref: MessageRef, payload: Payload) -> MessageRef:
        reply = _chat_reply(payload)
        self.connector.update_activity(_service_url(ref), ref["conversation"], ref["activity"], render(reply))
        return dict(ref)

    def delete(self, ref: MessageRef) -> None:
        try:
            self.connector.delete_activity(_service_url(ref), ref["conversation"], ref["activity"])
        except DeliveryError as error:
            if not error.reason.startswith("HTTP 404"):  # already gone: done
                raise

    # --- helpers --------------------------------------------------------------------------------------

    def _thread_for(self, reply: Reply, conversation: str) -> str | None:
        """A triage line about a ticket goes in the thread of the ticket's card (the card itself does not)."""
        if reply.ticket is None or reply.topic == f"ticket:{reply.ticket}":
            return None
        if conversation != self.channels.get(self.triage):
            return None
        return self.card_of_ticket(reply.ticket)

    def _open_personal(self, address: Address) -> str:
        user, tenant = address.get("user_id"), address.get("tenant")
        if not (user and tenant):
            raise DeliveryError("no conversation and no user to open one with", permanent=True)
        with self._lock:
            if user in self._personal:
                return self._personal[user]
        conversation = self.connector.open_personal(_service_url(address), user, tenant)
        with self._lock:
            self._personal[user] = conversation
        return conversation


def _service_url(address: Address) -> str:
    url = str(address.get("service_url") or "")
    if not url.startswith(("https://", "http://")):
        raise DeliveryError("no service URL to reach Teams at", permanent=True)
    return url


def _chat_reply(payload: Payload) -> Reply:
    if not isinstance(payload, Reply):
        raise DeliveryError("Teams delivers chat messages, not emails", permanent=True)
    return payload
